/// `operation` ran longer than its time limit and was cancelled.
public struct TimedOut: Error, CustomStringConvertible {
    /// What timed out.
    public let what: String
    /// The limit.
    public let limit: Duration
    public var description: String { "\(what) took longer than \(limit)" }
}

/// Runs `operation`, cancelling it and throwing ``TimedOut`` once `limit` has passed. A database
/// that stops answering must turn into a prompt 503, not a request that hangs.
func withTimeout<T: Sendable>(_ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what, limit: limit) }
        return value
    }
}
