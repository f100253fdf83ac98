import CLibevent
import Glibc
import Synchronization

/// The one place where threads meet: a mutex-protected queue drained on the owning loop, woken by an eventfd
/// (memcached's `notify_worker` / `thread_libevent_process`).
///
/// `@unchecked Sendable` because the eventfd and the libevent event are only touched on the loop thread
/// (the event) or through `write(2)`, which is thread-safe (the fd); the queue itself is in a `Mutex`.
package final class Mailbox<Message: Sendable>: MailboxWaker, @unchecked Sendable {
    private let queue = Mutex<[Message]>([])
    private let fd: Int32
    private var event: OpaquePointer?
    private let deliver: (Message) -> Void
    private unowned let loop: EventLoop

    /// Creates the mailbox of `loop`; `deliver` runs on that loop for every posted message, in order.
    package init(loop: EventLoop, deliver: @escaping (Message) -> Void) throws(IOError) {
        fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw IOError("eventfd failed: errno \(errno)") }
        self.deliver = deliver
        self.loop = loop
        super.init()
        event = event_new(
            loop.base, fd, Int16(EV_READ | EV_PERSIST), mailboxTrampoline, Unmanaged.passUnretained(self).toOpaque())
        event_add(event, nil)
    }

    deinit {
        if let event { event_free(event) }
        Glibc.close(fd)
    }

    /// Queues `message` for the loop and wakes it. Safe from any thread.
    package func post(_ message: Message) {
        queue.withLock { $0.append(message) }
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Stops listening for messages, so the loop can end once nothing else is pending.
    package func close() {
        if let event {
            event_free(event)
            self.event = nil
        }
    }

    override func didWake() {
        var counter: UInt64 = 0
        _ = read(fd, &counter, 8)
        let messages = queue.withLock { queue in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        for message in messages { deliver(message) }
        loop.flushPending()
    }
}

/// Non-generic base so the C trampoline can recover any `Mailbox<Message>` from its pointer.
package class MailboxWaker {
    func didWake() {}
}

private let mailboxTrampoline: @convention(c) (Int32, Int16, UnsafeMutableRawPointer?) -> Void = { _, _, arg in
    Unmanaged<MailboxWaker>.fromOpaque(arg!).takeUnretainedValue().didWake()
}
