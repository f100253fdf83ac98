@testable import GatehouseServer
import Testing

@Suite("max_connections: auto, from the descriptor limit")
struct ConnectionBudgetTests {
    @Test("two descriptors per client connection, after the reserve and the idle upstream pools")
    func formula() {
        // The systemd unit's LimitNOFILE, 4 workers, one upstream with the default keepalive of 32 (the docs' example).
        let unit = ConnectionBudget(descriptorLimit: 65_536, workers: 4, idleUpstream: 32)
        #expect(unit.reserve == 64)
        #expect(unit.perWorker == 8_168)
        #expect(!unit.tooLow)
        // Every worker at its limit, each client with an upstream connection, every pool full: still fits.
        #expect(unit.reserve + unit.workers * (2 * unit.perWorker + unit.idleUpstream) <= unit.descriptorLimit)
        let oneWorker = ConnectionBudget(descriptorLimit: 1024, workers: 1, idleUpstream: 64)
        #expect(oneWorker.perWorker == (1024 - 40 - 64) / 2)
    }

    @Test("a limit too low for one connection per worker still gives 1 (and says so); unlimited is capped")
    func extremes() {
        let low = ConnectionBudget(descriptorLimit: 64, workers: 2, idleUpstream: 32)
        #expect(low.perWorker == 1)
        #expect(low.tooLow)
        let unlimited = ConnectionBudget(descriptorLimit: .max, workers: 8, idleUpstream: 32)
        #expect(unlimited.perWorker == ConnectionBudget.maximumPerWorker)
        #expect(!unlimited.tooLow)
    }
}
