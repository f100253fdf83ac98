import CLibevent
import Glibc

/// A joinable OS thread that runs one closure (a worker's loop).
///
/// Plain pthreads rather than Foundation's `Thread`: the data path does not import Foundation, and a worker
/// needs nothing but "run this, let me join it".
package final class LoopThread {
    private var thread: pthread_t?

    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread running `body`.
    /// - Throws: `IOError` when the thread cannot be created.
    package init(name: String, body: @escaping () -> Void) throws(IOError) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var created = pthread_t()
        let rc = pthread_create(&created, nil, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw IOError("pthread_create failed: \(rc)")
        }
        thread = created
    }

    /// Waits for the thread to finish.
    package func join() {
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }
}
