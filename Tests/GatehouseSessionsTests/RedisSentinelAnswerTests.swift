@testable import GatehouseSessions
import GatehouseIO
import Testing

/// How the Sentinel client reads what a sentinel or a master says (the wire itself is tested against real
/// sentinels and fake ones in SessionSentinelTests).
@Suite("Redis Sentinel: reading sentinel answers and ROLE")
struct RedisSentinelAnswerTests {
    private static func bulk(_ text: String) -> RedisReply { .bulk(Array(text.utf8)) }

    @Test("get-master-addr-by-name: an address, nil (unknown name), and every kind of garbage")
    func answers() {
        #expect(SentinelAnswer(.success(.array([Self.bulk("10.0.0.5"), Self.bulk("6380")])))
                == .master(RedisEndpoint(host: "10.0.0.5", port: 6380)))
        #expect(SentinelAnswer(.success(.null)) == .unknownMaster)
        let garbage: [RedisReply] = [
            .status("hello"), .integer(1), Self.bulk("10.0.0.5:6379"), .array([]), .array([Self.bulk("10.0.0.5")]),
            .array([Self.bulk("10.0.0.5"), Self.bulk("port")]), .array([Self.bulk("10.0.0.5"), Self.bulk("0")]),
            .array([Self.bulk("10.0.0.5"), Self.bulk("70000")]), .array([Self.bulk(""), Self.bulk("6379")]),
            .array([Self.bulk("evil host"), Self.bulk("6379")]), .array([.integer(1), .integer(2)]),
            .array([Self.bulk("a"), Self.bulk("1"), Self.bulk("x")]), .error("ERR unknown command"),
        ]
        for reply in garbage {
            guard case .garbage = SentinelAnswer(.success(reply)) else {
                Issue.record("taken for an address: \(reply)")
                continue
            }
        }
        #expect(SentinelAnswer(.failure(RedisError(.timeout, "x"))) == .failed(RedisError(.timeout, "x")))
    }

    @Test("ROLE: a master with its replicas; a replica and a sentinel are not masters; garbage is nil")
    func role() throws {
        let master = try #require(RedisRole(.array([Self.bulk("master"), .integer(100), .array([
            .array([Self.bulk("127.0.0.1"), Self.bulk("6380"), Self.bulk("100")]),
            .array([Self.bulk("127.0.0.1"), Self.bulk("6381"), Self.bulk("90")]),
        ])])))
        #expect(master.isMaster && master.replicas == 2)
        let alone = try #require(RedisRole(.array([Self.bulk("master"), .integer(0), .array([])])))
        #expect(alone.isMaster && alone.replicas == 0)
        let replica = try #require(RedisRole(.array([Self.bulk("slave"), Self.bulk("127.0.0.1"), .integer(6379),
                                                     Self.bulk("connected"), .integer(100)])))
        #expect(!replica.isMaster)
        #expect(RedisRole(.array([Self.bulk("sentinel"), .array([])]))?.isMaster == false)
        #expect(RedisRole(.status("OK")) == nil)
        #expect(RedisRole(.array([])) == nil)
    }

    @Test("INFO replication: connected_slaves counts replicas in any state; junk or no line is nil")
    func attachedReplicas() {
        let syncing = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
            + "slave0:ip=127.0.0.1,port=6380,state=wait_bgsave,offset=0,lag=0\r\nmaster_repl_offset:37\r\n"
        #expect(RedisReplicationInfo.attachedReplicas(Array(syncing.utf8)) == 1)
        #expect(RedisReplicationInfo.attachedReplicas(Array("role:master\nconnected_slaves:12\n".utf8)) == 12)
        #expect(RedisReplicationInfo.attachedReplicas(Array("role:master\r\nconnected_slaves:0\r\n".utf8)) == 0)
        #expect(RedisReplicationInfo.attachedReplicas(Array("role:master\r\n".utf8)) == nil)
        #expect(RedisReplicationInfo.attachedReplicas(Array("connected_slaves:x\r\n".utf8)) == nil)
        #expect(RedisReplicationInfo.attachedReplicas(Array("connected_slaves:\r\n".utf8)) == nil)
        #expect(RedisReplicationInfo.attachedReplicas(Array("connected_slaves:99999999999\r\n".utf8)) == nil)
        #expect(RedisReplicationInfo.attachedReplicas([]) == nil)
    }

    @Test("the start check: an address wins; else an unknown name; else AUTH refused by every sentinel reached")
    func startupClassification() {
        let a = RedisEndpoint(host: "127.0.0.1", port: 1), b = RedisEndpoint(host: "127.0.0.1", port: 2)
        let down = SentinelAnswer.failed(RedisError(.unreachable, "Connection refused"))
        let auth = SentinelAnswer.failed(RedisError(.unreachable, "AUTH refused: WRONGPASS invalid password"))
        let noauth = SentinelAnswer.failed(RedisError(.unreachable, "PING refused: NOAUTH Authentication required."))
        let master = RedisEndpoint(host: "10.0.0.5", port: 6379)
        #expect(SentinelStartupCheck.classify([(a, down), (b, .master(master))]) == .found(master))
        #expect(SentinelStartupCheck.classify([(a, .unknownMaster), (b, down)]) == .unknownMaster(sentinel: a))
        #expect(SentinelStartupCheck.classify([(a, down), (b, auth)])
                == .authRefused(sentinel: b, detail: "AUTH refused: WRONGPASS invalid password"))
        #expect(SentinelStartupCheck.classify([(a, noauth)])
                == .authRefused(sentinel: a, detail: "PING refused: NOAUTH Authentication required."))
        // One sentinel refuses the password, another answers garbage: not a config error for sure, keep asking.
        guard case .noAnswer = SentinelStartupCheck.classify([(a, auth), (b, .garbage("x"))]) else {
            Issue.record("garbage beside a refusal must not stop the start")
            return
        }
        guard case .noAnswer = SentinelStartupCheck.classify([(a, down), (b, down)]) else {
            Issue.record("unreachable sentinels must not stop the start")
            return
        }
    }
}
