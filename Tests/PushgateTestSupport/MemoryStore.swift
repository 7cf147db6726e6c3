import Foundation
public import Pushgate

/// A ``RegistryStore`` in memory, for unit tests: it can fail its writes, or make each write take
/// time so that concurrent requests interleave at every await (race tests).
public final class MemoryStore: RegistryStore, @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [SubscriptionID: (subscription: Subscription, deletedAt: Int64?)] = [:]
    private var lists: [ListID: PushList] = [:]
    private var sets: [SetID: (set: SubscriptionSet, deletedAt: Int64?)] = [:]
    private var held: [MessageID: HeldMessage] = [:]
    private var receiptSubscriptions: [ReceiptSubscriptionID: ReceiptSubscription] = [:]
    private var receiptRequests: [MessageID: ReceiptRequest] = [:]
    private var receipts: [Receipt] = []
    private var _failWrites = false
    private var _writeDelay: Duration = .zero

    /// The installation secret it hands out.
    public let secret = (0..<32).map { UInt8($0) }

    /// An empty store.
    public init() {}

    /// Every write throws while set.
    public var failWrites: Bool {
        get { lock.withLock { _failWrites } }
        set { lock.withLock { _failWrites = newValue } }
    }

    /// Each write waits this long before it applies.
    public var writeDelay: Duration {
        get { lock.withLock { _writeDelay } }
        set { lock.withLock { _writeDelay = newValue } }
    }

    private var _loadDelay: Duration = .zero
    private var _failLoads = false

    /// Each load waits this long (a large registry being read in).
    public var loadDelay: Duration {
        get { lock.withLock { _loadDelay } }
        set { lock.withLock { _loadDelay = newValue } }
    }

    /// Every load throws (after its delay) while set.
    public var failLoads: Bool {
        get { lock.withLock { _failLoads } }
        set { lock.withLock { _failLoads = newValue } }
    }

    /// The lists as stored (to compare with what the registry serves).
    public var storedLists: [ListID: PushList] { lock.withLock { lists } }

    private struct WriteFailed: Error {}

    private var _writes = 0

    /// How many writes the store has been asked for (failed ones included).
    public var writes: Int { lock.withLock { _writes } }

    private func write(_ apply: () -> Void) async throws {
        let (fail, delay) = lock.withLock { () -> (Bool, Duration) in
            _writes += 1
            return (_failWrites, _writeDelay)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        if fail { throw WriteFailed() }
        lock.withLock(apply)
    }

    /// The held messages as stored.
    public var storedHeld: [MessageID: HeldMessage] { lock.withLock { held } }

    public func load() async throws -> RegistrySnapshot {
        let (delay, fail) = lock.withLock { (_loadDelay, _failLoads) }
        if delay > .zero { try await Task.sleep(for: delay) }
        if fail { throw WriteFailed() }
        return lock.withLock {
            var deleted: [PushToken: Int64] = [:]
            for row in rows.values { if let time = row.deletedAt { deleted[row.subscription.pushToken] = time } }
            return RegistrySnapshot(subscriptions: rows.values.filter { $0.deletedAt == nil }.map(\.subscription), deletedPushTokens: deleted,
                                    sets: sets.values.filter { $0.deletedAt == nil }.map(\.set), lists: Array(lists.values))
        }
    }

    public func lookup(pushToken: PushToken) async throws -> Registry.Lookup {
        lock.withLock {
            guard let row = rows.values.first(where: { $0.subscription.pushToken == pushToken }) else { return .unknown }
            return row.deletedAt == nil ? .active(row.subscription) : .deleted
        }
    }

    public func subscriptions(pushTokens: [PushToken]) async throws -> [Subscription] {
        let wanted = Set(pushTokens)
        return lock.withLock { rows.values.filter { $0.deletedAt == nil && wanted.contains($0.subscription.pushToken) }.map(\.subscription) }
    }

    public func list(id: ListID) async throws -> PushList? {
        lock.withLock { lists[id] }
    }

    public func list(pushToken: ListPushToken) async throws -> PushList? {
        lock.withLock { lists.values.first { $0.pushToken == pushToken } }
    }

    public func insert(_ subscription: Subscription) async throws {
        try await write {
            if let set = subscription.set, sets[set.id] == nil { sets[set.id] = (set, nil) }
            rows[subscription.id] = (subscription, nil)
        }
    }

    public func insert(batch subscriptions: [Subscription]) async throws {
        try await write {
            for subscription in subscriptions {
                if let set = subscription.set, sets[set.id] == nil { sets[set.id] = (set, nil) }
                rows[subscription.id] = (subscription, nil)
            }
        }
    }

    public func markDeleted(id: SubscriptionID, at time: Int64) async throws {
        try await write { deleteRow(id, at: time) }
    }

    public func deleteSet(id: SetID, at time: Int64) async throws {
        try await write {
            for (rowID, row) in rows where row.subscription.set?.id == id && row.deletedAt == nil { deleteRow(rowID, at: time) }
            sets[id]?.deletedAt = time
        }
    }

    public func purgeDeleted(before time: Int64) async throws {
        try await write {
            rows = rows.filter { ($0.value.deletedAt ?? .max) >= time }
            sets = sets.filter { ($0.value.deletedAt ?? .max) >= time }
        }
    }

    /// Under the lock: the subscription leaves its lists and its held messages go.
    private func deleteRow(_ id: SubscriptionID, at time: Int64) {
        guard let subscription = rows[id]?.subscription else { return }
        rows[id]?.deletedAt = time
        for listID in lists.keys { lists[listID]?.members[subscription.pushToken] = nil }
        held = held.filter { $0.value.topicID != subscription.topicID }
    }

    public func hold(_ message: HeldMessage) async throws {
        try await write {
            held = held.filter { !($0.value.topicID == message.topicID && $0.value.slot == message.slot) }
            held[message.id] = message
        }
    }

    public func release(_ ids: [MessageID]) async throws {
        try await write { for id in ids { held[id] = nil } }
    }

    public func heldMessages() async throws -> [HeldMessage] {
        lock.withLock { Array(held.values) }
    }

    public func insertList(_ list: PushList) async throws {
        try await write { lists[list.id] = list }
    }

    public func updateList(id: ListID, _ changes: [ListChange]) async throws {
        try await write {
            for change in changes {
                switch change {
                case .upsert(let token, let member): lists[id]?.members[token] = member
                case .remove(let token): lists[id]?.members[token] = nil
                }
            }
        }
    }

    public func deleteList(id: ListID) async throws {
        try await write { lists[id] = nil }
    }

    public func insert(_ subscription: ReceiptSubscription) async throws {
        try await write { receiptSubscriptions[subscription.id] = subscription }
    }

    public func deleteReceiptSubscription(id: ReceiptSubscriptionID) async throws {
        try await write {
            receiptSubscriptions[id] = nil
            receiptRequests = receiptRequests.filter { $0.value.subscription != id }
            receipts.removeAll { $0.subscription == id }
        }
    }

    public func insert(_ requests: [ReceiptRequest]) async throws {
        try await write { for request in requests { receiptRequests[request.message] = request } }
    }

    public func removeRequests(_ messages: [MessageID]) async throws {
        try await write { for message in messages { receiptRequests[message] = nil } }
    }

    public func resolve(_ resolved: [Receipt]) async throws {
        try await write {
            for receipt in resolved {
                receiptRequests[receipt.message] = nil
                receipts.append(receipt)
            }
        }
    }

    public func removeReceipts(_ removed: [Receipt]) async throws {
        try await write { receipts.removeAll { removed.contains($0) } }
    }

    public func loadReceipts() async throws -> (subscriptions: [ReceiptSubscription], requests: [ReceiptRequest], receipts: [Receipt]) {
        lock.withLock { (Array(receiptSubscriptions.values), Array(receiptRequests.values), receipts) }
    }

    /// The receipts as stored (resolved, not yet collected).
    public var storedReceipts: [Receipt] { lock.withLock { receipts } }

    public func installationSecret() async throws -> [UInt8] { secret }

    public func close() async throws {}
}
