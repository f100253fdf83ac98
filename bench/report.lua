-- wrk reporter: one machine-readable line after the run; no per-request Lua.
done = function(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "RESULT rps=%.1f p50_us=%d p99_us=%d errors=%d\n",
      summary.requests / secs, latency:percentile(50), latency:percentile(99),
      e.connect + e.read + e.write + e.status + e.timeout))
end
