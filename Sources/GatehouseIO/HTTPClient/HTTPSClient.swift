import CCurl
import Glibc

/// One outbound HTTPS request to an identity provider (discovery, JWKS, token endpoint).
package struct HTTPSRequest: Sendable {
    /// `https://...` only: plain HTTP is refused by the client, so a downgraded URL never goes out.
    package var url: String
    /// A form body (`application/x-www-form-urlencoded`) makes it a POST; nil is a GET.
    package var formBody: [UInt8]?
    /// Extra request headers, e.g. `Authorization: Basic ...` for a token endpoint.
    package var headers: [(name: String, value: String)]
    /// PEM file of the CA certificates to trust instead of the system's.
    package var caFile: String?
    /// The whole request, connect included.
    package var timeout: Duration
    /// Larger answers are refused (`response-too-large`) without being read further.
    package var maxBytes: Int

    package init(url: String, formBody: [UInt8]? = nil, headers: [(name: String, value: String)] = [],
                 caFile: String? = nil, timeout: Duration = .seconds(10), maxBytes: Int = 1 << 20) {
        self.url = url
        self.formBody = formBody
        self.headers = headers
        self.caFile = caFile
        self.timeout = timeout
        self.maxBytes = maxBytes
    }
}

/// A provider's answer: status, headers (names lowercased) and the body.
package struct HTTPSResponse: Sendable {
    package let status: Int
    package let headers: [(name: String, value: String)]
    package let body: [UInt8]

    package init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The last value of a header (name in lowercase).
    package func header(_ name: String) -> String? {
        headers.last { $0.name == name }?.value
    }
}

/// Why an outbound request failed; `reason` is short and safe to log.
package struct HTTPSFailure: Error, Sendable, CustomStringConvertible {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { reason }
}

/// A small blocking HTTPS client over libcurl (OpenSSL flavour): certificates and host names verified against the
/// system CAs or a `ca_file`, TLS 1.2 minimum, HTTPS only (redirects not followed), bounded time and size.
///
/// Blocking by design: it runs on a `BlockingPool` thread, never on an event loop. libcurl rather than a client of
/// our own over COpenSSL: outbound requests are rare (one per refresh) and need DNS, proxies-free connect with
/// timeouts, certificate-chain and host-name verification and chunked/compressed bodies done right; libcurl has
/// done that for decades, and Debian ships it built against the same OpenSSL.
package enum HTTPSClient {
    /// `curl_global_init` once, before any handle (it is not thread-safe itself; a `static let` runs once).
    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    /// Performs the request on the calling thread.
    package static func perform(_ request: HTTPSRequest) -> Result<HTTPSResponse, HTTPSFailure> {
        guard request.url.hasPrefix("https://") else { return .failure(HTTPSFailure("not an https URL")) }
        guard globalInit, let handle = curl_easy_init() else { return .failure(HTTPSFailure("libcurl init failed")) }
        defer { curl_easy_cleanup(handle) }
        let sink = ResponseSink(maxBytes: request.maxBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        for header in request.headers {
            list = curl_slist_append(list, "\(header.name): \(header.value)")
        }
        let milliseconds = Int(request.timeout.components.seconds * 1000
                               + request.timeout.components.attoseconds / 1_000_000_000_000_000)
        var ok = gh_curl_set_string(handle, CURLOPT_URL, request.url) == CURLE_OK
        ok = ok && gh_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_FOLLOWLOCATION, 0) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_SSL_VERIFYPEER, 1) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_SSL_VERIFYHOST, 2) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2)) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_TIMEOUT_MS, max(1, milliseconds)) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, max(1, min(milliseconds, 5000))) == CURLE_OK
        ok = ok && gh_curl_set_long(handle, CURLOPT_MAXFILESIZE, request.maxBytes) == CURLE_OK
        ok = ok && gh_curl_set_string(handle, CURLOPT_USERAGENT, "gatehouse") == CURLE_OK
        if let caFile = request.caFile {
            ok = ok && gh_curl_set_string(handle, CURLOPT_CAINFO, caFile) == CURLE_OK
        }
        if let list { ok = ok && gh_curl_set_pointer(handle, CURLOPT_HTTPHEADER, list) == CURLE_OK }
        ok = ok && gh_curl_set_data_fn(handle, CURLOPT_WRITEFUNCTION, bodyCallback) == CURLE_OK
        ok = ok && gh_curl_set_pointer(handle, CURLOPT_WRITEDATA, context) == CURLE_OK
        ok = ok && gh_curl_set_data_fn(handle, CURLOPT_HEADERFUNCTION, headerCallback) == CURLE_OK
        ok = ok && gh_curl_set_pointer(handle, CURLOPT_HEADERDATA, context) == CURLE_OK
        guard ok else { return .failure(HTTPSFailure("libcurl refused an option")) }
        // The body must outlive curl_easy_perform: COPYPOSTFIELDS copies it into the handle.
        if let body = request.formBody {
            ok = gh_curl_set_long(handle, CURLOPT_POSTFIELDSIZE, body.count) == CURLE_OK
            ok = ok && body.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    gh_curl_set_pointer(handle, CURLOPT_COPYPOSTFIELDS,
                                        UnsafeMutableRawPointer(mutating: chars.baseAddress ?? UnsafePointer(bitPattern: 1)!))
                        == CURLE_OK
                }
            }
            guard ok else { return .failure(HTTPSFailure("libcurl refused the request body")) }
        }
        let code = curl_easy_perform(handle)
        withExtendedLifetime(sink) {}
        if sink.overflowed || code == CURLE_FILESIZE_EXCEEDED {
            return .failure(HTTPSFailure("response larger than \(request.maxBytes) bytes"))
        }
        guard code == CURLE_OK else {
            return .failure(HTTPSFailure(String(cString: curl_easy_strerror(code))))
        }
        return .success(HTTPSResponse(status: gh_curl_response_code(handle), headers: sink.headers, body: sink.body))
    }

    /// Collects the body and headers during one `curl_easy_perform` (on its thread only).
    private final class ResponseSink {
        let maxBytes: Int
        var body: [UInt8] = []
        var headers: [(name: String, value: String)] = []
        var overflowed = false
        init(maxBytes: Int) { self.maxBytes = maxBytes }
    }

    private static let bodyCallback: gh_curl_data_fn = { data, size, count, context in
        let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        guard sink.body.count + length <= sink.maxBytes else {
            sink.overflowed = true
            return 0  // aborts the transfer (CURLE_WRITE_ERROR)
        }
        if let data, length > 0 {
            data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                sink.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
            }
        }
        return length
    }

    private static let headerCallback: gh_curl_data_fn = { data, size, count, context in
        let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        guard let data, length > 0 else { return length }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
        }
        if line.hasPrefix("HTTP/") {
            sink.headers.removeAll()  // a new response (after 100 Continue): only the final one's headers count
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingBlanks()
            sink.headers.append((name: name, value: value))
        }
        return length
    }
}

extension Substring {
    fileprivate func trimmingBlanks() -> String {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" || last == "\n" || last == "\r\n" {
            text.removeLast()
        }
        return String(text)
    }
}
