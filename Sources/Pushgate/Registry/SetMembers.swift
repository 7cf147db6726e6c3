/// The live members of one subscription set, for the in-memory index.
///
/// Nearly every set has a single member (each subscribe without a set makes one), so one member
/// is kept inline; a `Set` — a heap allocation of its own, ~100 bytes per set at ten million
/// subscriptions (issue 16) — only from the second.
enum SetMembers: Sendable, Equatable {
    case one(SubscriptionID)
    case many(Set<SubscriptionID>)

    /// The members, in no particular order.
    var ids: [SubscriptionID] {
        switch self {
        case .one(let id): [id]
        case .many(let ids): Array(ids)
        }
    }

    /// Adds `id`.
    mutating func insert(_ id: SubscriptionID) {
        switch self {
        case .one(let member) where member == id: break
        case .one(let member): self = .many([member, id])
        case .many(var ids):
            ids.insert(id)
            self = .many(ids)
        }
    }

    /// Removes `id`; `nil` when no member is left.
    func removing(_ id: SubscriptionID) -> SetMembers? {
        switch self {
        case .one(let member): return member == id ? nil : self
        case .many(var ids):
            ids.remove(id)
            if ids.count == 1, let last = ids.first { return .one(last) }
            return ids.isEmpty ? nil : .many(ids)
        }
    }
}

extension Optional where Wrapped == SetMembers {
    /// Adds `id` to the members, the first one included.
    mutating func insert(_ id: SubscriptionID) {
        if case .some(var members) = self {
            // Out of the optional first, so a set's storage is not copied on insertion.
            self = nil
            members.insert(id)
            self = members
        } else {
            self = .one(id)
        }
    }
}
