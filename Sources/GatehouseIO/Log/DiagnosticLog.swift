import CLibevent
package import Logging

/// The process's diagnostics (swift-log and libevent's own warnings), written to stderr by a `LogSink`
/// thread: a worker that logs never waits on a blocked stderr (a full pipe nobody reads, a stopped
/// terminal); past 1 MiB queued, lines are dropped and counted, and the count is written once stderr
/// takes bytes again.
package enum DiagnosticLog {
    /// Starts the writer and routes swift-log and libevent to it. Call once, before any thread logs.
    /// - Returns: the sink, to `close()` before the process exits (queued lines are written then).
    package static func bootstrap(level: Logger.Level = .info) -> LogSink {
        let sink = LogSink.standardError()
        // Without a thread for the writer, log straight to stderr rather than not at all.
        let started = (try? sink.start()) != nil
        LoggingSystem.bootstrap { label in
            var handler = started ? StreamLogHandler(label: label, stream: SinkStream(sink: sink))
                                  : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // libevent writes its warnings with fprintf(stderr) from whichever loop hit them.
        if started { event_set_log_callback(libeventLogTrampoline) }
        return sink
    }
}

/// One `write` per log line (StreamLogHandler writes a whole line at once), handed to the sink as one batch.
private struct SinkStream: TextOutputStream, Sendable {
    let sink: LogSink

    mutating func write(_ string: String) {
        sink.submit(Array(string.utf8))
    }
}

private let libeventLogTrampoline: @convention(c) (Int32, UnsafePointer<CChar>?) -> Void = { severity, message in
    let text = message.map { String(cString: $0) } ?? ""
    let logger = Logger(label: "gatehouse.libevent")
    switch severity {
    case EVENT_LOG_DEBUG: logger.debug("\(text)")
    case EVENT_LOG_MSG: logger.info("\(text)")
    case EVENT_LOG_WARN: logger.warning("\(text)")
    default: logger.error("\(text)")
    }
}
