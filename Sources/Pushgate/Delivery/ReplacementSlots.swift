import NIOConcurrencyHelpers

/// Which message each Topic slot holds (RFC 8030 §5.4), so that an acknowledgement can clear
/// exactly that message, and a replacement at another urgency can clear the old slot.
///
/// In memory: after a restart a retained message stays until it expires (its TTL), so a device
/// may see it again; it is never lost.
final class ReplacementSlots: Sendable {
    struct Entry: Sendable {
        var topic: String
        var messageID: MessageID
    }

    private struct State {
        /// By subscription topic id + slot.
        var slots: [String: Entry] = [:]
        /// message id → slot key, for acknowledgements.
        var byMessage: [MessageID: String] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Records that `slotKey` now holds `entry`; returns the entry it replaces.
    func replace(_ slotKey: String, with entry: Entry) -> Entry? {
        state.withLockedValue { state in
            let previous = state.slots.updateValue(entry, forKey: slotKey)
            if let previous { state.byMessage[previous.messageID] = nil }
            state.byMessage[entry.messageID] = slotKey
            return previous
        }
    }

    /// The slot topic to clear when `messageID` is acknowledged, if it still holds that message.
    func acknowledge(_ messageID: MessageID) -> String? {
        state.withLockedValue { state in
            guard let key = state.byMessage.removeValue(forKey: messageID) else { return nil }
            return state.slots.removeValue(forKey: key)?.topic
        }
    }
}
