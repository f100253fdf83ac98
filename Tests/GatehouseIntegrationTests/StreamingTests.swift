import Foundation
import GatehouseTestSupport
import Testing

/// Large bodies stream through the gateway in bounded memory, in both directions.
@Suite("Streaming large bodies through the real binary")
struct StreamingTests {
    /// The gateway's resident memory must stay under this while a gigabyte passes through it.
    static let rssLimitKiB = 200 * 1024

    /// SHA-256 of 256 MiB of zero bytes (`head -c 268435456 /dev/zero | sha256sum`).
    static let zeros256MiBSHA256 = "a6d72ac7690f53be6ae46ba88506bd97302a093f7108472bd9efc3cefda06484"

    @Test("a 1 GiB download is read in full while the gateway's RSS stays under 200 MB")
    func oneGiBDownload() throws {
        let gw = try TestGateway.simple(server: "", upstream: "")
        let total: Int64 = 1 << 30
        let client = try BulkClient(port: gw.port)
        try client.send("GET /__echo/stream/\(total) HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try client.readHead()
        #expect(head.status == 200)
        #expect(head.headers.first { $0.name.lowercased() == "content-length" }?.value == "\(total)")
        var peakKiB = gw.gateway.residentKiB ?? 0
        var nextSample: Int64 = 0
        let start = Date()
        let received = client.drainBody(length: total) { count in
            if count >= nextSample {
                nextSample = count + 32 << 20
                peakKiB = max(peakKiB, gw.gateway.residentKiB ?? 0)
            }
        }
        peakKiB = max(peakKiB, gw.gateway.residentKiB ?? 0)
        #expect(received == total, "received \(received) of \(total) bytes")
        #expect(peakKiB < Self.rssLimitKiB, "gateway RSS peaked at \(peakKiB) KiB")
        print("1 GiB download: \(String(format: "%.1f", elapsed(since: start))) s, gateway peak RSS \(peakKiB) KiB")
    }

    @Test("a 256 MiB Content-Length upload arrives whole (length and SHA-256) in bounded gateway memory")
    func largeContentLengthUpload() throws {
        try upload(chunked: false)
    }

    @Test("a 256 MiB chunked upload arrives whole (length and SHA-256) in bounded gateway memory")
    func largeChunkedUpload() throws {
        try upload(chunked: true)
    }

    private func upload(chunked: Bool) throws {
        let gw = try TestGateway.simple(server: "  limits:\n    max_body: 1GiB")
        let total: Int64 = 256 << 20
        let client = try BulkClient(port: gw.port)
        let framing = chunked ? "Transfer-Encoding: chunked" : "Content-Length: \(total)"
        try client.send("PUT /upload HTTP/1.1\r\nHost: a\r\n\(framing)\r\n\r\n")
        var peakKiB = gw.gateway.residentKiB ?? 0
        var nextSample: Int64 = 0
        try client.sendBody(total: total, chunked: chunked) { sent in
            if sent >= nextSample {
                nextSample = sent + 16 << 20
                peakKiB = max(peakKiB, gw.gateway.residentKiB ?? 0)
            }
        }
        let head = try client.readHead(timeout: 30)
        #expect(head.status == 200)
        let length = try #require(head.headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) })
        let body = try client.readBody(length: length)
        let json = try #require((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])
        #expect((json["body_length"] as? NSNumber)?.int64Value == total)
        #expect(json["body_sha256"] as? String == Self.zeros256MiBSHA256)
        #expect(peakKiB < Self.rssLimitKiB, "gateway RSS peaked at \(peakKiB) KiB")
    }

    @Test("a download the client reads slowly is paused, not buffered: RSS stays bounded")
    func slowReaderBackpressure() throws {
        let gw = try TestGateway.simple()
        let total: Int64 = 256 << 20
        let client = try BulkClient(port: gw.port)
        try client.send("GET /__echo/stream/\(total) HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try client.readHead()
        // Read nothing for a while: the upstream keeps sending, the gateway must stop reading it.
        usleep(1_500_000)
        let stalledKiB = gw.gateway.residentKiB ?? 0
        #expect(stalledKiB < 64 * 1024, "gateway RSS with a stalled reader: \(stalledKiB) KiB")
        let received = client.drainBody(length: total)
        #expect(received == total)
    }
}
