import NIOConcurrencyHelpers

/// Hands every value to every stream made by ``subscribe(bufferingNewest:)`` until ``finish()``;
/// a stream that is dropped stops receiving. (The PostgreSQL store fans its notifications out to
/// the registry and the receipts this way.)
final class Broadcaster<Element: Sendable>: Sendable {
    private struct State {
        var next: UInt64 = 0
        var continuations: [UInt64: AsyncStream<Element>.Continuation] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// A new stream of what is yielded from now on, keeping at most `limit` undelivered values.
    func subscribe(bufferingNewest limit: Int) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(limit))
        let id = state.withLockedValue { state in
            state.next += 1
            state.continuations[state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLockedValue { _ = $0.continuations.removeValue(forKey: id) } }
        return stream
    }

    func yield(_ value: Element) {
        for continuation in state.withLockedValue({ Array($0.continuations.values) }) { continuation.yield(value) }
    }

    /// Ends every stream.
    func finish() {
        for continuation in state.withLockedValue({ Array($0.continuations.values) }) { continuation.finish() }
    }
}
