package import GatehouseIO

/// The embedded store is its own backend: one shared, thread-safe object that every worker uses directly
/// (reads from memory, never a wait), so each worker's "store" is the same instance.
extension EmbeddedSessionStore: SessionBackend {
    package func store(for loop: EventLoop) -> any SessionStore { self }
}
