import Foundation

/// A value guarded by a pthread mutex.
///
/// The bridge's state is shared with its event loop and connection thread. `Synchronization.Mutex` would
/// do, but on Linux it locks with raw futexes that ThreadSanitizer cannot see, so every access
/// under it is reported as a race; with a pthread mutex the sanitizer checks the real thing.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
