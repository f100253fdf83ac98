import CLibevent
import Glibc

/// Delivers a Unix signal to a closure on a loop (libevent's signal events, so the handler runs as normal
/// loop code, not in signal context).
package final class SignalWatcher {
    private var event: OpaquePointer?
    private let action: () -> Void

    /// Watches `signal` on `loop` until closed.
    package init(loop: EventLoop, signal: Int32, action: @escaping () -> Void) {
        self.action = action
        event = event_new(loop.base, signal, Int16(EV_SIGNAL | EV_PERSIST), signalTrampoline,
                          Unmanaged.passUnretained(self).toOpaque())
        event_add(event, nil)
    }

    deinit { close() }

    /// Stops watching.
    package func close() {
        if let event {
            event_free(event)
            self.event = nil
        }
    }

    func didFire() { action() }

    /// Ignores SIGPIPE for the process: a peer that closes mid-write must give EPIPE, not kill the gateway.
    package static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }
}

private let signalTrampoline: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
    Unmanaged<SignalWatcher>.fromOpaque(arg!).takeUnretainedValue().didFire()
}
