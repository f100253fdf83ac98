import GatehouseHTTP
@testable import GatehouseProxy
import GatehouseSessions
import Testing

/// The exchange state machine without sockets: each test sends events and asserts the exact actions, with a
/// manual clock for the timers (`MachineHarness`).
@Suite("ExchangeMachine")
struct ExchangeMachineTests {
    typealias H = MachineHarness

    // MARK: Reading a head

    @Test func newConnectionWaitsUnderIdleTimeoutTLSUnderHeaderTimeout() {
        #expect(H().log == ["armTimer(idle)"])
        #expect(H(tls: true).log == ["armTimer(header)"])
    }

    @Test func idleConnectionClosesAfterIdleTimeout() {
        var h = H()
        #expect(h.advance(.seconds(59)) == [])
        #expect(h.advance(.seconds(1)) == ["close"])
    }

    @Test func startedHeadRunsHeaderTimeoutOnceThen408AndLinger() {
        var h = H()
        #expect(h.on { $0.headStarted() } == ["armTimer(header)"])
        #expect(h.on { $0.headStarted() } == [], "once per head, not per read")
        #expect(h.advance(.seconds(9)) == [])
        #expect(h.advance(.seconds(1)) == ["count(headerTimeout)", "answer(error(408), close: true)"] + H.closing)
        #expect(h.on { $0.clientReadable(flooding: false) } == ["discardClientInput"])
        #expect(h.on { $0.clientOutputDrained() } == ["shutdownWrite", "armTimer(linger)"])
        #expect(h.on { $0.clientOutputDrained() } == [], "a writable callback after the last flush")
        #expect(h.advance(.seconds(2)) == ["close"])
    }

    @Test func answerNeverFlushedClosesAfterFlushTimeout() {
        var h = H()
        h.on { $0.headFailed(status: 400, reason: "bad-request-line") }
        #expect(h.log.suffix(6) == ["count(parseError)", "answer(error(400), close: true)",
                                    "logRefusal(400, bad-request-line)"] + H.closing)
        #expect(h.advance(.seconds(4)) == [])
        #expect(h.advance(.seconds(1)) == ["close"])
    }

    // MARK: Forwarding

    @Test func forwardedGETKeepsTheConnectionAndReusesTheUpstream() {
        var h = H()
        let request = exchangeRequest(get, host)
        #expect(h.on { $0.headParsed(request) } == ["cancelTimer", "decide"])
        #expect(h.on { $0.decided(.forward(route: 0, identity: nil, servers: 1)) } == ["connectUpstream(excluding: nil)"])
        #expect(request.target == .route(0))
        #expect(h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
                == ["armUpstreamTimer(response)", "writeRequestHead", "readRequestBody"])
        #expect(h.on { $0.requestEnded(trailers: HeaderFields()) } == [])
        #expect(h.on { $0.upstreamReadable() } == ["armUpstreamTimer(response)", "readResponse"])
        #expect(h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 5")) } == [],
                "the head is held until its body or its end")
        #expect(h.on { $0.responseBody(5) } == ["writeResponseHead(length(5), close: false)",
                                                "moveResponseBody(5, chunked: false)"])
        #expect(h.machine.takeHeldResponseHead().status == 200)
        #expect(h.on { $0.responseNeedsMore() } == [])
        #expect(h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: false) }
                == ["log(200)", "releaseUpstream(reuse: true, serverFailed: false)"] + H.nextRequest)
        #expect(h.machine.served == 1)
    }

    @Test func pipelinedHeadWaitsUnreadWhileTheFirstIsForwarded() {
        var h = H()
        h.forwardGET()
        #expect(h.on { $0.clientReadable(flooding: false) } == [], "the second head stays in the buffer")
        #expect(h.on { $0.clientReadable(flooding: true) } == ["pauseClientReads"], "beyond one head's worth")
        #expect(h.on { $0.clientReadable(flooding: true) } == [])
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 204 No Content")) }
        #expect(h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: false) }
                == ["writeResponseHead(none, close: false)", "log(204)", "releaseUpstream(reuse: true, serverFailed: false)",
                    "prepareForNextRequest", "resumeClientReads", "armTimer(idle)", "readNextHead"])
        #expect(h.on { $0.headParsed(exchangeRequest("GET /second HTTP/1.1", host)) } == ["cancelTimer", "decide"])
    }

    @Test func expectContinueIsAnsweredByTheGatewayOnceConnected() {
        var h = H()
        h.forward(exchangeRequest("PUT /file HTTP/1.1", host, "Content-Length: 5", "Expect: 100-continue"))
        #expect(h.on { $0.upstreamAcquired(server: 0, connected: false, reused: false) } == ["armUpstreamTimer(connect)"])
        #expect(h.on { $0.clientReadable(flooding: false) } == [], "the body waits for the upstream")
        #expect(h.on { $0.upstreamConnected() }
                == ["armUpstreamTimer(response)", "writeRequestHead", "writeContinue", "readRequestBody"])
        #expect(h.on { $0.requestNeedsMore() } == ["armTimer(body)"])
        #expect(h.on { $0.requestBody(5) } == ["moveRequestBody(5, chunked: false)", "armUpstreamTimer(response)"])
        #expect(h.on { $0.requestEnded(trailers: HeaderFields()) } == ["cancelTimer"])
    }

    @Test func chunkedRequestBodyIsReframedWithItsTrailers() {
        var h = H()
        h.forward(exchangeRequest("POST /in HTTP/1.1", host, "Transfer-Encoding: chunked"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        #expect(h.on { $0.requestBody(3) } == ["moveRequestBody(3, chunked: true)", "armUpstreamTimer(response)"])
        #expect(h.on { $0.requestEnded(trailers: HeaderFields()) } == ["endRequestBody"])
    }

    @Test func chunkedOrCloseDelimitedResponseIsChunkedForHTTP11AndCloseDelimitedFor10() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK")) }  // until close
        #expect(h.on { $0.responseBody(3) } == ["writeResponseHead(chunked, close: false)",
                                                "moveResponseBody(3, chunked: true)"])
        #expect(h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: true) }
                == ["endResponseBody", "log(200)", "releaseUpstream(reuse: false, serverFailed: false)"] + H.nextRequest)

        var old = H()
        old.forward(exchangeRequest("GET / HTTP/1.0", host))
        old.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        old.on { $0.requestEnded(trailers: HeaderFields()) }
        old.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")) }
        #expect(old.on { $0.responseBody(3) } == ["writeResponseHead(untilClose, close: true)",
                                                  "moveResponseBody(3, chunked: false)"])
        #expect(old.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: false) }
                == ["log(200)", "releaseUpstream(reuse: true, serverFailed: false)"] + H.closing,
                "the client's framing closes the client, not the upstream")
    }

    @Test func interimResponsesPassButContinueIsTheGatewaysOwn() {
        var h = H()
        h.forwardGET()
        #expect(h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 103 Early Hints", "Link: </a.css>")) }
                == ["writeInterimHead"])
        #expect(h.machine.takeHeldResponseHead().status == 103)
        #expect(h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 100 Continue")) } == [])
        #expect(h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 0")) } == [])
    }

    @Test func bytesBehindABodilessResponseAre502() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 204 No Content")) }
        #expect(h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: true, upstreamEnded: false) }
                == ["count(upstreamProtocolError)", "count(upstreamError)",
                    "log(502, upstream-body-on-bodiless-response)", "releaseUpstream(reuse: false, serverFailed: false)",
                    "answer(error(502), close: false)"] + H.nextRequest)
    }

    @Test func earlyAnswerWhileTheBodyArrivesClosesTheConnection() {
        var h = H()
        h.forward(exchangeRequest("POST /in HTTP/1.1", host, "Content-Length: 100"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        h.on { $0.requestBody(10) }
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 413 Too Large", "Content-Length: 0")) }
        #expect(h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: false) }
                == ["writeResponseHead(length(0), close: false)", "log(413)",
                    "releaseUpstream(reuse: false, serverFailed: false)"] + H.closing)
    }

    // MARK: Backpressure

    @Test func slowUpstreamPausesTheClientAndSuspendsTheBodyTimeout() {
        var h = H()
        h.forward(exchangeRequest("POST /in HTTP/1.1", host, "Content-Length: 1000000"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        h.on { $0.requestNeedsMore() }
        #expect(h.on { $0.upstreamOutputFull() } == ["pauseClientReads", "cancelTimer"])
        #expect(h.on { $0.upstreamOutputFull() } == [])
        #expect(h.on { $0.upstreamOutputDrained() } == ["resumeClientReads", "readRequestBody"])
        #expect(h.on { $0.upstreamOutputDrained() } == [])
    }

    @Test func slowClientPausesTheUpstreamAfterTheHeldHead() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 1000000")) }
        #expect(h.on { $0.clientOutputFull() } == ["writeResponseHead(length(1000000), close: false)",
                                                   "pauseUpstreamReads"])
        #expect(h.on { $0.clientOutputDrained() } == ["resumeUpstreamReads", "armUpstreamTimer(response)", "readResponse"])
        #expect(h.on { $0.clientOutputDrained() } == [])
        h.on { $0.clientOutputFull() }
        #expect(h.on { $0.clientClosed() } == ["log(200)", "resumeUpstreamReads",
                                               "releaseUpstream(reuse: false, serverFailed: false)", "close"])
    }

    // MARK: Timeouts of a forwarded request

    @Test func clientBodyTimeoutIs408BeforeTheResponse() {
        var h = H()
        h.forward(exchangeRequest("POST /in HTTP/1.1", host, "Content-Length: 10"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        #expect(h.advance(.seconds(12)) == [])
        h.on { $0.requestNeedsMore() }  // body deadline 32 s, upstream response deadline 30 s
        #expect(h.advance(.seconds(18)) == ["armUpstreamTimer(response)"],
                "the upstream waits for the body too: the client's body timeout decides")
        #expect(h.advance(.seconds(2)) == ["answer(error(408), close: true)", "log(408)",
                                           "releaseUpstream(reuse: false, serverFailed: false)"] + H.closing)
    }

    @Test func bodyTimeoutAfterTheResponseStartedCloses() {
        var h = H()
        h.forward(exchangeRequest("POST /in HTTP/1.1", host, "Content-Length: 10"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 100")) }
        h.on { $0.responseBody(1) }
        h.on { $0.requestNeedsMore() }
        #expect(h.advance(.seconds(20)) == ["log(200)", "releaseUpstream(reuse: false, serverFailed: false)", "close"])
    }

    @Test func upstreamResponseTimeoutIs504() {
        var h = H()
        h.forwardGET()
        #expect(h.advance(.seconds(29)) == [])
        #expect(h.advance(.seconds(1)) == ["count(upstreamResponseTimeout)", "count(upstreamError)",
                                           "log(504, upstream-response-timeout)",
                                           "releaseUpstream(reuse: false, serverFailed: false)",
                                           "answer(error(504), close: false)"] + H.nextRequest)
    }

    @Test func upstreamConnectTimeoutIs502AndMarksTheServer() {
        var h = H()
        h.forward(exchangeRequest(get, host))
        h.on { $0.upstreamAcquired(server: 0, connected: false, reused: false) }
        #expect(h.advance(.seconds(3)) == ["count(upstreamConnectTimeout)", "count(upstreamError)",
                                           "log(502, upstream-connect-timeout)",
                                           "releaseUpstream(reuse: false, serverFailed: true)",
                                           "answer(error(502), close: true)"] + H.closing,
                "the request's (empty) body was never read, so the connection closes")
    }

    @Test func noSocketForTheUpstreamIs502() {
        var h = H()
        h.forward(exchangeRequest(get, host))
        #expect(h.on { $0.upstreamUnavailable() } == ["count(upstreamError)", "log(502)",
                                                      "answer(error(502), close: true)"] + H.closing)
    }

    // MARK: Upstream death at each point

    @Test func refusedConnectWithOneServerIs502() {
        var h = H()
        h.forward(exchangeRequest(get, host))
        h.on { $0.upstreamAcquired(server: 0, connected: false, reused: false) }
        #expect(h.on { $0.upstreamClosed() } == ["releaseUpstream(reuse: false, serverFailed: true)",
                                                 "count(upstreamError)", "log(502)",
                                                 "answer(error(502), close: true)"] + H.closing)
    }

    @Test func refusedConnectIsRetriedOnceOnAnotherServer() {
        var h = H()
        h.forward(exchangeRequest(get, host), servers: 2)
        h.on { $0.upstreamAcquired(server: 0, connected: false, reused: false) }
        #expect(h.on { $0.upstreamClosed() } == ["releaseUpstream(reuse: false, serverFailed: true)",
                                                 "connectUpstream(excluding: 0)"])
        #expect(h.on { $0.upstreamAcquired(server: 1, connected: false, reused: false) } == ["armUpstreamTimer(connect)"])
        #expect(h.on { $0.upstreamClosed() } == ["releaseUpstream(reuse: false, serverFailed: true)",
                                                 "count(upstreamError)", "log(502)",
                                                 "answer(error(502), close: true)"] + H.closing, "once only")
    }

    @Test func retriedConnectThatSucceedsForwards() {
        var h = H()
        h.forward(exchangeRequest(get, host), servers: 2)
        h.on { $0.upstreamAcquired(server: 0, connected: false, reused: false) }
        h.on { $0.upstreamClosed() }
        h.on { $0.upstreamAcquired(server: 1, connected: false, reused: false) }
        #expect(h.on { $0.upstreamConnected() } == ["armUpstreamTimer(response)", "writeRequestHead", "readRequestBody"])
    }

    @Test func upstreamClosingAfterTheRequestHeadIs502() {
        var h = H()
        h.forwardGET()
        #expect(h.on { $0.upstreamClosed() } == ["count(upstreamError)", "log(502, upstream-truncated)",
                                                 "releaseUpstream(reuse: false, serverFailed: false)",
                                                 "answer(error(502), close: false)"] + H.nextRequest)
    }

    @Test func reusedUpstreamClosedBeforeAnsweringIsRetriedOnceForIdempotentRequests() {
        var h = H()
        h.forwardGET(reused: true)
        #expect(h.on { $0.upstreamClosed() } == ["releaseUpstream(reuse: false, serverFailed: false)",
                                                 "connectUpstream(excluding: nil)"])
        #expect(h.on { $0.upstreamAcquired(server: 0, connected: false, reused: false) } == ["armUpstreamTimer(connect)"])
        #expect(h.on { $0.upstreamConnected() } == ["armUpstreamTimer(response)", "writeRequestHead"],
                "the body was already read: nothing more to send")
        #expect(h.on { $0.upstreamClosed() } == ["count(upstreamError)", "log(502, upstream-truncated)",
                                                 "releaseUpstream(reuse: false, serverFailed: false)",
                                                 "answer(error(502), close: false)"] + H.nextRequest)
    }

    @Test func reusedUpstreamClosedIsNotRetriedForPOST() {
        var h = H()
        h.forward(exchangeRequest("POST /order HTTP/1.1", host))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: true) }
        h.on { $0.requestEnded(trailers: HeaderFields()) }
        #expect(h.on { $0.upstreamClosed() }.prefix(2) == ["count(upstreamError)", "log(502, upstream-truncated)"])
    }

    @Test func upstreamClosingMidRequestBodyIs502AndCloses() {
        var h = H()
        h.forward(exchangeRequest("PUT /file HTTP/1.1", host, "Content-Length: 10"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: true) }
        h.on { $0.requestBody(4) }
        #expect(h.on { $0.upstreamClosed() } == ["count(upstreamError)", "log(502, upstream-truncated)",
                                                 "releaseUpstream(reuse: false, serverFailed: false)",
                                                 "answer(error(502), close: true)"] + H.closing,
                "body bytes went upstream: no retry; unread body bytes: close")
    }

    @Test func upstreamClosingAfterTheHeldResponseHeadIsStillAClean502() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 10")) }
        #expect(h.on { $0.upstreamClosed() } == ["count(upstreamError)", "log(502, upstream-truncated)",
                                                 "releaseUpstream(reuse: false, serverFailed: false)",
                                                 "answer(error(502), close: false)"] + H.nextRequest)
    }

    @Test func upstreamClosingMidResponseBodyCutsTheClient() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 10")) }
        h.on { $0.responseBody(4) }
        #expect(h.on { $0.upstreamClosed() } == ["count(upstreamError)",
                                                 "log(502, upstream-truncated; response cut after the head)",
                                                 "releaseUpstream(reuse: false, serverFailed: false)", "close"])
    }

    @Test func brokenResponseMidBodyCutsTheClient() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")) }
        h.on { $0.responseBody(4) }
        #expect(h.on { $0.upstreamBrokeProtocol(reason: "bad-chunk-size") }
                == ["count(upstreamProtocolError)", "count(upstreamError)",
                    "log(502, bad-chunk-size; response cut after the head)",
                    "releaseUpstream(reuse: false, serverFailed: false)", "close"])
    }

    @Test func clientLeavingMidExchangeIsLogged499() {
        var h = H()
        h.forwardGET()
        #expect(h.on { $0.clientClosed() } == ["log(499)", "releaseUpstream(reuse: false, serverFailed: false)", "close"])
        #expect(h.on { $0.clientClosed() } == [], "a close already under way")
        #expect(h.on { $0.clientReadable(flooding: false) } == [])
    }

    @Test func brokenRequestBodyIsAnsweredAndCloses() {
        var h = H()
        h.forward(exchangeRequest("POST /in HTTP/1.1", host, "Transfer-Encoding: chunked"))
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        #expect(h.on { $0.requestFailed(status: 400, reason: "bad-chunk-size") }
                == ["count(parseError)", "answer(error(400), close: true)", "log(400)",
                    "releaseUpstream(reuse: false, serverFailed: false)"] + H.closing)
    }

    // MARK: Tunnel

    static let upgrade = [get, host, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]
    static let switching = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]

    static func tunnel() -> H {
        var h = H()
        let request = h.forward(exchangeRequest(Self.upgrade.joined(separator: "\r\n")))
        #expect(request.wantsUpgrade)
        h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
        h.on { $0.requestEnded(trailers: HeaderFields()) }
        #expect(h.on { $0.upstreamResponseHead(responseHead(Self.switching.joined(separator: "\r\n"))) }
                == ["writeUpgradeHead", "disarmUpstreamTimer", "count(tunnel)", "armTimer(tunnelIdle)",
                    "tunnelToUpstream", "tunnelToClient"])
        return h
    }

    @Test func tunnelCopiesBothWaysWithBackpressureUntilIdle() {
        var h = Self.tunnel()
        #expect(h.on { $0.clientReadable(flooding: true) } == ["tunnelToUpstream"])
        #expect(h.on { $0.upstreamReadable() } == ["tunnelToClient"])
        #expect(h.on { $0.tunnelMoved() } == ["armTimer(tunnelIdle)"])
        #expect(h.on { $0.upstreamOutputFull() } == ["pauseClientReads"])
        #expect(h.on { $0.upstreamOutputDrained() } == ["resumeClientReads", "tunnelToUpstream"])
        #expect(h.on { $0.clientOutputFull() } == ["pauseUpstreamReads"])
        #expect(h.on { $0.clientOutputDrained() } == ["resumeUpstreamReads", "tunnelToClient"])
        #expect(h.advance(.seconds(299)) == [])
        #expect(h.advance(.seconds(1)) == ["log(101, tunnel-idle-timeout)",
                                           "releaseUpstream(reuse: false, serverFailed: false)", "close"])
    }

    @Test func tunnelEndsWithEitherSide() {
        var fromUpstream = Self.tunnel()
        #expect(fromUpstream.on { $0.upstreamClosed() } == ["flushToClient", "log(101)",
                                                            "releaseUpstream(reuse: false, serverFailed: false)"]
                + H.closing)
        var fromClient = Self.tunnel()
        #expect(fromClient.on { $0.clientClosed() } == ["flushToUpstream", "log(101)",
                                                        "releaseUpstream(reuse: false, serverFailed: false)",
                                                        "cancelTimer", "close"])
    }

    @Test func upgradeTheRequestDidNotAskForIs502() {
        var h = H()
        h.forwardGET()
        #expect(h.on { $0.upstreamResponseHead(responseHead(Self.switching.joined(separator: "\r\n"))) }
                == ["count(upstreamProtocolError)", "count(upstreamError)", "log(502, unrequested-upgrade)",
                    "releaseUpstream(reuse: false, serverFailed: false)", "answer(error(502), close: false)"]
                + H.nextRequest)
    }

    // MARK: Drain

    @Test func drainClosesAnIdleConnectionThatServedARequest() {
        var h = H()
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 204 No Content")) }
        h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: false) }
        #expect(h.on { $0.drain(idle: false) } == [], "part of a next request is buffered: it gets its answer")
        #expect(h.on { $0.drain(idle: true) } == ["cancelTimer", "close"])
    }

    @Test func drainLeavesAFreshConnectionAndClosesABusyOneAfterItsAnswer() {
        var h = H()
        #expect(h.on { $0.drain(idle: true) } == [], "its request may still be in the kernel")
        h.forwardGET()
        h.on { $0.upstreamResponseHead(responseHead("HTTP/1.1 200 OK", "Content-Length: 0")) }
        #expect(h.on { $0.responseEnded(trailers: HeaderFields(), bytesBehind: false, upstreamEnded: false) }
                == ["writeResponseHead(length(0), close: true)", "log(200)",
                    "releaseUpstream(reuse: true, serverFailed: false)"] + H.closing)
    }

    @Test func drainDuringALocalAnswerClosesAfterIt() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest("GET /.gatehouse/jwks HTTP/1.1", host)) }
        h.on { $0.decided(.local(readsBody: false, bodyLimit: 16384)) }
        h.on { $0.drain(idle: true) }
        #expect(h.on { $0.localAnswered(LocalResponse(status: 200), error: nil, forceClose: false) }
                == ["answer(local(200), close: true)", "log(200)"] + H.closing)
    }

    // MARK: Answers the gateway writes itself

    @Test func localEndpointWithoutBodyKeepsTheConnection() {
        var h = H()
        let request = exchangeRequest("GET /.gatehouse/jwks HTTP/1.1", host)
        h.on { $0.headParsed(request) }
        #expect(h.on { $0.decided(.local(readsBody: false, bodyLimit: 16384)) } == ["consumeEmptyBody", "runLocal"])
        #expect(request.target == .gateway)
        #expect(h.on { $0.clientReadable(flooding: true) } == ["pauseClientReads"])
        #expect(h.on { $0.localAnswered(LocalResponse(status: 200), error: nil, forceClose: false) }
                == ["answer(local(200), close: false)", "log(200)", "prepareForNextRequest", "resumeClientReads",
                    "armTimer(idle)", "readNextHead"])
    }

    @Test func localEndpointBodyIsCollectedWithContinueAndLimits() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest("POST /.gatehouse/login HTTP/1.1", host, "Transfer-Encoding: chunked",
                                             "Expect: 100-continue")) }
        #expect(h.on { $0.decided(.local(readsBody: true, bodyLimit: 16384)) } == ["writeContinue", "readLocalBody"])
        #expect(h.on { $0.clientReadable(flooding: false) } == ["readLocalBody"])
        #expect(h.on { $0.localBody(total: 100) } == [])
        #expect(h.on { $0.requestNeedsMore() } == ["armTimer(body)"])
        #expect(h.on { $0.localBody(total: 16385) } == ["answer(local(413), close: true)",
                                                        "log(413, local-body-too-large)"] + H.closing)
    }

    @Test func localEndpointBodyEndRunsTheEndpoint() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest("POST /.gatehouse/login HTTP/1.1", host, "Content-Length: 9")) }
        h.on { $0.decided(.local(readsBody: true, bodyLimit: 16384)) }
        h.on { $0.requestNeedsMore() }
        #expect(h.on { $0.requestEnded(trailers: HeaderFields()) } == ["cancelTimer", "runLocal"])
        #expect(h.on { $0.localAnswered(LocalResponse(status: 303), error: nil, forceClose: false) }
                == ["answer(local(303), close: false)", "log(303)"] + H.nextRequest)
    }

    @Test func localEndpointBodyTimeoutIs408() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest("POST /.gatehouse/login HTTP/1.1", host, "Content-Length: 9")) }
        h.on { $0.decided(.local(readsBody: true, bodyLimit: 16384)) }
        h.on { $0.requestNeedsMore() }
        #expect(h.advance(.seconds(20)) == ["answer(local(408), close: true)", "log(408, body-timeout)"] + H.closing)
    }

    @Test func localEndpointBodiesRefusedUnreadClose() {
        var tooLarge = H()
        tooLarge.on { $0.headParsed(exchangeRequest("POST /.gatehouse/login HTTP/1.1", host, "Content-Length: 20000")) }
        #expect(tooLarge.on { $0.decided(.local(readsBody: true, bodyLimit: 16384)) }
                == ["answer(local(413), close: true)", "log(413, local-body-refused)"] + H.closing)
        var unwanted = H()
        unwanted.on { $0.headParsed(exchangeRequest("POST /.gatehouse/jwks HTTP/1.1", host, "Content-Length: 5")) }
        #expect(unwanted.on { $0.decided(.local(readsBody: false, bodyLimit: 16384)) }
                == ["answer(local(400), close: true)", "log(400, local-body-refused)"] + H.closing)
    }

    @Test func localAnswerAfterTheClientLeftIsDropped() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest("GET /.gatehouse/sessions HTTP/1.1", host)) }
        h.on { $0.decided(.local(readsBody: false, bodyLimit: 16384)) }
        #expect(h.on { $0.clientClosed() } == ["close"])
        #expect(h.on { $0.localAnswered(LocalResponse(status: 200), error: nil, forceClose: false) } == [])
    }

    @Test func refusalsKeepTheConnectionUnlessABodyIsLeftUnread() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest(get, host)) }
        #expect(h.on { $0.decided(.refuse(.noRoute, route: nil)) }
                == ["answer(refusal(404), close: false)", "log(404)", "consumeEmptyBody"] + H.nextRequest)
        h.on { $0.headParsed(exchangeRequest("HEAD / HTTP/1.1", host)) }
        #expect(h.on { $0.decided(.refuse(.noRoute, route: nil)) }.first == "answer(refusal(404), close: false, headOnly)")
        h.on { $0.headParsed(exchangeRequest("POST / HTTP/1.1", host, "Content-Length: 3")) }
        let refusal = ExchangeMachine.Refusal.auth(status: 401, reason: "no-credential", invalidToken: false,
                                                   loginRedirect: false)
        #expect(h.on { $0.decided(.refuse(refusal, route: 0)) }
                == ["answer(refusal(401), close: true)", "log(401, no-credential)"] + H.closing)
    }

    @Test func browserSentToLoginIsLogged302() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest(get, host, "Connection: close")) }
        let refusal = ExchangeMachine.Refusal.auth(status: 401, reason: "no-credential", invalidToken: false,
                                                   loginRedirect: true)
        #expect(h.on { $0.decided(.refuse(refusal, route: 0)) }
                == ["answer(refusal(302), close: true)", "log(302, no-credential)"] + H.closing)
    }

    // MARK: Waiting for the session store

    static var pending: PendingSession { PendingSession(key: SessionKey(w0: 1, w1: 2, w2: 3, w3: 4)) }

    @Test func storeAnswerContinuesTheDecision() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest(get, host, "Cookie: gatehouse_session=abc")) }
        #expect(h.on { $0.decided(.fetchSession(route: 0, Self.pending)) } == ["fetchSession(1)"])
        #expect(h.on { $0.clientReadable(flooding: true) } == ["pauseClientReads"])
        #expect(h.on { $0.storeAnswered(ticket: 1, answer: .absent) } == ["decide"])
        #expect(h.machine.takeResumption()?.route == 0, "the decision is finished, not made again")
        #expect(h.on { $0.decided(.forward(route: 0, identity: nil, servers: 1)) } == ["connectUpstream(excluding: nil)"])
        #expect(h.on { $0.upstreamAcquired(server: 0, connected: true, reused: false) }
                == ["armUpstreamTimer(response)", "writeRequestHead", "resumeClientReads", "readRequestBody"])
    }

    @Test func lateStoreAnswerAfterTheClientLeftIsIgnored() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest(get, host)) }
        h.on { $0.decided(.fetchSession(route: 0, Self.pending)) }
        #expect(h.on { $0.clientClosed() } == ["close"])
        #expect(h.on { $0.storeAnswered(ticket: 1, answer: .absent) } == [])
    }

    @Test func storeAnswerForAnEarlierTicketIsIgnored() {
        var h = H()
        h.on { $0.headParsed(exchangeRequest(get, host)) }
        h.on { $0.decided(.fetchSession(route: 0, Self.pending)) }
        h.on { $0.storeAnswered(ticket: 1, answer: .absent) }
        h.on { $0.decided(.refuse(.storeUnavailable(reason: "session-store-down"), route: 0)) }
        h.on { $0.headParsed(exchangeRequest(get, host)) }
        #expect(h.on { $0.decided(.fetchSession(route: 0, Self.pending)) } == ["fetchSession(2)"])
        #expect(h.on { $0.storeAnswered(ticket: 1, answer: .absent) } == [])
        #expect(h.on { $0.storeAnswered(ticket: 2, answer: .absent) } == ["decide"])
    }

    // MARK: Cost

    @Test func actionsAndStatesStaySmall() {
        // Every event returns a list of actions by value, and every transition rewrites the state: a head or an
        // identity in either would be copied (and retained) on each event of every request.
        print("ExchangeMachine sizes: Action \(MemoryLayout<ExchangeMachine.Action>.size), Actions "
              + "\(MemoryLayout<ExchangeMachine.Actions>.size), State \(MemoryLayout<ExchangeMachine.State>.size)")
        #expect(_isPOD(ExchangeMachine.Action.self), "no references: copying and dropping a list is a few stores")
        #expect(MemoryLayout<ExchangeMachine.Action>.size <= 16)
        #expect(MemoryLayout<ExchangeMachine.State>.size <= 64)
    }

    // MARK: Impossible events

    @Test func impossibleEventFailsLoudlyInDebugBuilds() async {
        await #expect(processExitsWith: .failure) {
            var machine = ExchangeMachine(tls: false)
            _ = machine.upstreamConnected()  // no request is being forwarded
        }
    }
}
