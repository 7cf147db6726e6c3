import NIOConcurrencyHelpers
import NIOCore

/// Rendered list documents, so that reading a large list again costs a comparison, not a
/// rendering (a 10,000-member document took ~370 ms of CPU per GET: issue 15 #9).
///
/// An entry is valid while the list is unchanged and no member has expired since it was
/// rendered; at most ``capacity`` lists are kept (the oldest entry goes first).
final class ListDocumentCache: Sendable {
    private struct Entry {
        var list: PushList
        var body: ByteBuffer
        /// The first time a member of the rendered document expires (the document changes then).
        var validUntil: Int64
    }

    private struct State {
        var entries: [ListID: Entry] = [:]
        var order: [ListID] = []
    }

    /// Lists kept at most.
    let capacity: Int
    private let state = NIOLockedValueBox(State())

    init(capacity: Int = 64) { self.capacity = max(1, capacity) }

    /// The document of `list` at `now`: cached, or rendered by `render` and kept.
    func document(of list: PushList, now: Int64, render: (PushList) -> ByteBuffer) -> ByteBuffer {
        if let cached = state.withLockedValue({ state -> ByteBuffer? in
            guard let entry = state.entries[list.id], now < entry.validUntil, entry.list == list else { return nil }
            return entry.body
        }) {
            return cached
        }
        let body = render(list)
        let validUntil = list.members.values.compactMap(\.expires).filter { $0 > now }.min() ?? .max
        state.withLockedValue { state in
            if state.entries[list.id] == nil {
                state.order.append(list.id)
                if state.order.count > capacity { state.entries[state.order.removeFirst()] = nil }
            }
            state.entries[list.id] = Entry(list: list, body: body, validUntil: validUntil)
        }
        return body
    }
}
