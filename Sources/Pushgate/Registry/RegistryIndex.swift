import Dispatch
import NIOConcurrencyHelpers
import WebPush

/// The in-memory index of the registry: every lookup of the push path is a dictionary read here.
///
/// A plain value with no locking and no I/O: ``Registry`` owns one behind a lock and changes it
/// only after the store has the change. It keeps the relations both ways (list → members,
/// member → lists) so that deleting a subscription can leave every list it was in.
struct RegistryIndex: Sendable {
    /// Live subscriptions, densely, in no particular order. A dictionary keeps its values in an
    /// array as long as its table — a third to twice as many slots as entries — and a
    /// subscription is ~120 bytes; here each is stored once, and the tables below hold 4-byte
    /// positions (~100 bytes per subscription less at a million, issue 16).
    private var records: [Subscription] = []
    /// push token → position in `records`.
    private var positionsByPushToken: [PushToken: Int32] = [:]
    /// subscription id → position in `records`.
    private var positionsByID: [SubscriptionID: Int32] = [:]
    /// Deleted subscriptions' push tokens, with when (purged after `storage.deleted_retention_days`).
    private(set) var deletedPushTokens: [PushToken: Int64] = [:]
    /// Live sets with their live members, one entry per set: a dictionary of records and one of
    /// members cost a second key and table per set (~60 bytes per subscription at a million, as
    /// nearly every subscription has a set of its own).
    private var sets: [SetID: SetEntry] = [:]
    private(set) var lists: [ListID: PushList] = [:]
    private(set) var listIDsByPushToken: [ListPushToken: ListID] = [:]
    /// member push token → ids of the lists it is in.
    private(set) var listIDsByMember: [PushToken: Set<ListID>] = [:]
    /// Whether this holds the whole store. `false` only for the empty index a ``Registry``
    /// serves from while its real one is read in (``Registry/fill()``): a miss then says
    /// nothing, and the store is asked instead.
    var isComplete = true

    init() {}

    /// The index of a loaded snapshot.
    ///
    /// The position tables and the set table are independent, so they are built on two threads:
    /// restart-to-ready waits for the larger half, not the sum (issue 16). Each table is sized
    /// from the snapshot and each entry written with one probe — at millions of entries every
    /// probe is a cache miss.
    init(_ snapshot: RegistrySnapshot) {
        let subscriptions = snapshot.subscriptions
        precondition(subscriptions.count < Int32.max, "more subscriptions than an index position holds")
        let positionTables = NIOLockedValueBox<([PushToken: Int32], [SubscriptionID: Int32])>(([:], [:]))
        let setTable = NIOLockedValueBox<[SetID: SetEntry]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            if part == 0 {
                var byPushToken = [PushToken: Int32](minimumCapacity: subscriptions.count)
                var byID = [SubscriptionID: Int32](minimumCapacity: subscriptions.count)
                for (position, subscription) in subscriptions.enumerated() {
                    byPushToken[subscription.pushToken] = Int32(position)
                    byID[subscription.id] = Int32(position)
                }
                positionTables.withLockedValue { $0 = (byPushToken, byID) }
            } else {
                var sets = [SetID: SetEntry](minimumCapacity: snapshot.sets.count)
                for set in snapshot.sets { sets[set.id] = SetEntry(set) }
                for subscription in subscriptions {
                    guard let set = subscription.set else { continue }
                    sets[set.id, default: SetEntry(set)].members.insert(subscription.id)
                }
                setTable.withLockedValue { $0 = sets }
            }
        }
        (positionsByPushToken, positionsByID) = positionTables.withLockedValue { $0 }
        // A snapshot with one token twice (not written by this service) keeps the later record,
        // as inserting them one by one would.
        if positionsByPushToken.count == subscriptions.count && positionsByID.count == subscriptions.count {
            records = subscriptions
            // Room to grow before the first reallocation, which copies every record under the lock.
            records.reserveCapacity(subscriptions.count + subscriptions.count / 16 + 1024)
        } else {
            (positionsByPushToken, positionsByID) = ([:], [:])
            for subscription in subscriptions { insertRecord(subscription) }
        }
        sets = setTable.withLockedValue { $0 }
        deletedPushTokens = snapshot.deletedPushTokens
        for list in snapshot.lists { insert(list) }
    }

    // MARK: Subscriptions

    mutating func insert(_ subscription: Subscription) {
        insertRecord(subscription)
        if let set = subscription.set { sets[set.id, default: SetEntry(set)].members.insert(subscription.id) }
    }

    /// Adds the record, or replaces the one with its push token.
    private mutating func insertRecord(_ subscription: Subscription) {
        if let position = positionsByPushToken[subscription.pushToken] {
            positionsByID[records[Int(position)].id] = nil
            records[Int(position)] = subscription
            positionsByID[subscription.id] = position
            return
        }
        let position = Int32(records.count)
        positionsByPushToken[subscription.pushToken] = position
        positionsByID[subscription.id] = position
        records.append(subscription)
    }

    /// Forgets a subscription, remembers its push token as deleted (410) since `time`, and removes
    /// it from every list and its set.
    mutating func delete(_ subscription: Subscription, at time: Int64) {
        if let position = positionsByPushToken.removeValue(forKey: subscription.pushToken) {
            positionsByID[records[Int(position)].id] = nil
            // The last record moves into the gap, so the array stays dense.
            let last = records.removeLast()
            if Int(position) < records.count {
                records[Int(position)] = last
                positionsByPushToken[last.pushToken] = position
                positionsByID[last.id] = position
            }
        }
        deletedPushTokens[subscription.pushToken] = time
        if let set = subscription.set, let members = sets[set.id]?.members { sets[set.id]?.members = members.removing(subscription.id) }
        for listID in listIDsByMember.removeValue(forKey: subscription.pushToken) ?? [] {
            lists[listID]?.members[subscription.pushToken] = nil
        }
    }

    /// The live subscription with this push token.
    func subscription(pushToken: PushToken) -> Subscription? {
        positionsByPushToken[pushToken].map { records[Int($0)] }
    }

    /// Forgets the tombstones of subscriptions deleted before `time`.
    mutating func purgeDeleted(before time: Int64) {
        deletedPushTokens = deletedPushTokens.filter { $0.value >= time }
    }

    /// The live subscription with this subscription-resource id.
    func subscription(id: SubscriptionID) -> Subscription? {
        positionsByID[id].map { records[Int($0)] }
    }

    /// Live subscriptions.
    var subscriptionCount: Int { records.count }

    // MARK: Sets

    /// A live set's record (its id is the key) and its live members.
    private struct SetEntry: Sendable {
        let topicID: TopicID
        let createdAt: Int64
        var members: SetMembers?

        init(_ set: SubscriptionSet) {
            topicID = set.topicID
            createdAt = set.createdAt
        }
    }

    /// Adds a set (its members join as their subscriptions are inserted); a known set keeps its members.
    mutating func insert(_ set: SubscriptionSet) {
        guard sets[set.id] == nil else { return }
        sets[set.id] = SetEntry(set)
    }

    /// The live set with this id.
    func set(id: SetID) -> SubscriptionSet? {
        sets[id].map { SubscriptionSet(id: id, topicID: $0.topicID, createdAt: $0.createdAt) }
    }

    /// The live members of a set; `nil` when it has none (or is not live).
    func members(ofSet id: SetID) -> SetMembers? {
        sets[id]?.members
    }

    /// Live sets.
    var setCount: Int { sets.count }

    /// Deletes a set and every member; returns the members.
    mutating func deleteSet(id: SetID, at time: Int64) -> [Subscription] {
        guard let entry = sets.removeValue(forKey: id) else { return [] }
        let members = (entry.members?.ids ?? []).compactMap { subscription(id: $0) }
        for member in members { delete(member, at: time) }
        return members
    }

    /// Forgets a set's record only; its members leave one by one (a change log lists them).
    mutating func forgetSet(id: SetID) {
        sets[id] = nil
    }

    // MARK: Changes from other instances

    /// Brings the index to the state `changes` describe (idempotent: it sets, it does not replay).
    mutating func apply(_ changes: RegistryChanges) {
        for set in changes.sets { insert(set) }
        for id in changes.removedSets { forgetSet(id: id) }
        for state in changes.subscriptions {
            switch state {
            case .live(let subscription):
                if positionsByID[subscription.id] == nil { insert(subscription) }
            case .deleted(let token, let time):
                if let live = subscription(pushToken: token) { delete(live, at: time) } else { deletedPushTokens[token] = time }
            }
        }
        for list in changes.lists { insert(list) }
        for id in changes.removedLists { removeList(id: id) }
    }

    // MARK: Lists

    /// Adds or replaces a list, keeping the member → lists relation in step.
    mutating func insert(_ list: PushList) {
        if let old = lists[list.id] {
            for token in old.members.keys where list.members[token] == nil { unlink(token, from: list.id) }
        }
        lists[list.id] = list
        listIDsByPushToken[list.pushToken] = list.id
        for token in list.members.keys { listIDsByMember[token, default: []].insert(list.id) }
    }

    mutating func removeList(id: ListID) {
        guard let list = lists.removeValue(forKey: id) else { return }
        listIDsByPushToken[list.pushToken] = nil
        for token in list.members.keys { unlink(token, from: id) }
    }

    private mutating func unlink(_ token: PushToken, from listID: ListID) {
        listIDsByMember[token]?.remove(listID)
        if listIDsByMember[token]?.isEmpty == true { listIDsByMember[token] = nil }
    }

    func list(pushToken: ListPushToken) -> PushList? {
        listIDsByPushToken[pushToken].flatMap { lists[$0] }
    }

    func listCount(creator: VAPIDPublicKey) -> Int {
        lists.values.count { $0.creatorKey == creator }
    }
}
