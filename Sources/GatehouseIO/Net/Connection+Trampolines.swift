import CLibevent

// The C callbacks of a bufferevent. Each recovers its `Connection` (registered unretained: the owner keeps
// the connection alive for as long as its bufferevent exists, and `close()` frees the bufferevent first).

let readTrampoline: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, arg in
    Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().didRead()
}

let writeTrampoline: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, arg in
    Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().didWrite()
}

let eventTrampoline: @convention(c) (OpaquePointer?, Int16, UnsafeMutableRawPointer?) -> Void = { _, what, arg in
    Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue().didEvent(what)
}
