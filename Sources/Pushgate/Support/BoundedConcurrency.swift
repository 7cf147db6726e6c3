import NIOConcurrencyHelpers

/// Runs `body` for each index in `0..<count` on at most `width` concurrent tasks, each taking the
/// next index when it is done; returns what the calls returned that was not `nil`.
///
/// A task per item (10,000 for a large list) cost more in task creation and scheduling than the
/// work itself, and the broker window admits only so many publishes in flight anyway.
func forEachConcurrently<Failure: Sendable>(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) async -> Failure?) async -> [Failure] {
    let next = NIOLockedValueBox(0)
    return await withTaskGroup(of: [Failure].self) { group in
        for _ in 0..<min(count, width) {
            group.addTask {
                var failures: [Failure] = []
                while true {
                    let index = next.withLockedValue { value in
                        defer { value += 1 }
                        return value
                    }
                    guard index < count else { return failures }
                    if let failure = await body(index) { failures.append(failure) }
                }
            }
        }
        var failures: [Failure] = []
        for await some in group { failures += some }
        return failures
    }
}
