import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import ServiceLifecycle
import Testing
import WebPush
@testable import Pushgate

/// After a start the registry serves from its store while its index is read in (issue 16:
/// ready within a second however large the registry). Reads must answer exactly what the filled
/// index will; writes must be refused and change nothing, so the fill's snapshot stays whole.
@Suite("A registry serving from its store while the index is read in")
struct RegistryFillTests {
    /// One subscription of each kind, a deleted one and a list, written to the store directly.
    struct Population {
        let plain: Subscription
        let inSet: Subscription
        let restricted: Subscription
        let deleted: Subscription
        let list: PushList
    }

    static let key = VAPIDSigningKey.generate().publicKey

    func populate(_ store: any RegistryStore) async throws -> Population {
        let set = SubscriptionSet.make(now: 100)
        let plain = Subscription.make(restrictionKey: nil, now: 100)
        let inSet = Subscription.make(restrictionKey: nil, now: 101, set: set)
        let restricted = Subscription.make(restrictionKey: Self.key, now: 102, set: .make(now: 102))
        let deleted = Subscription.make(restrictionKey: nil, now: 103, set: .make(now: 103))
        try await store.insert(batch: [plain, inSet, restricted, deleted])
        try await store.markDeleted(id: deleted.id, at: 200)
        let list = PushList(id: .random(), pushToken: .random(), creatorKey: Self.key,
                            members: [plain.pushToken: .init(expires: 2_000_000_000, encryptedKey: "abc"), restricted.pushToken: .init()], createdAt: 104)
        try await store.insertList(list)
        return Population(plain: plain, inSet: inSet, restricted: restricted, deleted: deleted, list: list)
    }

    /// What the registry answers for the population, in one comparable form.
    func answers(_ registry: Registry, _ population: Population) async throws -> [String] {
        var answers: [String] = []
        for subscription in [population.plain, population.inSet, population.restricted, population.deleted] {
            switch try await registry.lookup(pushToken: subscription.pushToken) {
            case .active(let found): answers.append(found == subscription ? "active, same record" : "active, different record: \(found)")
            case .deleted: answers.append("deleted")
            case .unknown: answers.append("unknown")
            }
        }
        switch try await registry.lookup(pushToken: .random()) {
        case .unknown: answers.append("unknown")
        default: answers.append("a random token was found")
        }
        let tokens = [population.plain, population.inSet, population.restricted, population.deleted].map(\.pushToken) + [.random()]
        let found = try await registry.subscriptions(pushTokens: tokens)
        answers.append("members: " + tokens.map { token in found[token].map { $0.pushToken == token ? "live" : "wrong" } ?? "none" }.joined(separator: ","))
        answers.append("list by id: \(try await registry.findList(id: population.list.id) == population.list)")
        answers.append("list by token: \(try await registry.list(pushToken: population.list.pushToken) == population.list)")
        answers.append("unknown list: \(try await registry.findList(id: .random()) == nil)")
        return answers
    }

    static let expected = ["active, same record", "active, same record", "active, same record", "deleted", "unknown",
                           "members: live,live,live,none,none", "list by id: true", "list by token: true", "unknown list: true"]

    @Test("until it is filled, reads come from the store and answer what the filled index answers",
          arguments: RegistryStoreTests.subjects)
    func readsBeforeAndAfterFill(_ subject: RegistryStoreTests.Subject) async throws {
        let store = try await subject.open()
        let population = try await populate(store)
        let registry = Registry.open(store)
        #expect(registry.isFilling)
        let fromStore = try await answers(registry, population)
        #expect(fromStore == Self.expected, "\(fromStore)")
        try await registry.fill()
        #expect(!registry.isFilling)
        #expect(registry.count == 3)
        let fromMemory = try await answers(registry, population)
        #expect(fromMemory == Self.expected, "\(fromMemory)")
        try await store.close()
    }

    @Test("members are read by key in chunks: of 1,200 tokens every live one comes back once, with its set and key",
          arguments: RegistryStoreTests.durableSubjects)
    func manyMembers(_ subject: RegistryStoreTests.Subject) async throws {
        let store = try await subject.open()
        let subscriptions = (0..<1_200).map { _ in Subscription.make(restrictionKey: Self.key, now: 1, set: .make(now: 1)) }
        try await store.insert(batch: subscriptions)
        try await store.markDeleted(id: subscriptions[700].id, at: 5)
        let found = try await store.subscriptions(pushTokens: subscriptions.map { $0.pushToken } + [PushToken.random()])
        #expect(found.count == 1_199)
        #expect(Set(found) == Set(subscriptions).subtracting([subscriptions[700]]))
        try await store.close()
    }

    @Test("until it is filled, every write is refused with Filling and changes nothing; afterwards they are taken",
          arguments: RegistryStoreTests.subjects)
    func writesWaitForTheFill(_ subject: RegistryStoreTests.Subject) async throws {
        let store = try await subject.open()
        let population = try await populate(store)
        let registry = Registry.open(store)
        await #expect(throws: Registry.Filling.self) {
            try await registry.addSubscription { _ in .make(restrictionKey: nil, now: 300) }
        }
        await #expect(throws: Registry.Filling.self) { try await registry.remove(id: population.plain.id, now: 300) }
        await #expect(throws: Registry.Filling.self) { try await registry.removeSet(id: population.inSet.set!.id, now: 300) }
        await #expect(throws: Registry.Filling.self) {
            try await registry.addList { _ in PushList(id: .random(), pushToken: .random(), creatorKey: Self.key, members: [:], createdAt: 300) }
        }
        await #expect(throws: Registry.Filling.self) { try await registry.removeList(id: population.list.id) }
        await #expect(throws: Registry.Filling.self) { try await registry.purgeDeleted(before: 1_000) }
        // Nothing reached the store: a fresh load has exactly the population.
        let snapshot = try await store.load()
        #expect(snapshot.subscriptions.count == 3 && snapshot.deletedPushTokens.count == 1 && snapshot.lists.count == 1)
        #expect(snapshot.lists.first?.members.count == 2)

        try await registry.fill()
        let added = try await registry.addSubscription { _ in .make(restrictionKey: nil, now: 300) }
        if case .active(let found) = try await registry.lookup(pushToken: added.pushToken) { #expect(found == added) } else {
            Issue.record("a subscription added after the fill is not found")
        }
        #expect(try await registry.remove(id: population.plain.id, now: 300) == population.plain)
        #expect(try await registry.removeList(id: population.list.id))
        try await store.close()
    }

    @Test("PostgreSQL: an instance still filling serves what another instance writes meanwhile, and its filled index follows the feed",
          .enabled(if: TestPostgres.server != nil))
    func sharedWhileFilling() async throws {
        let location = try await TestPostgres.freshDatabase()
        let writerStore = try await PostgresRegistryStore.open(location)
        let writer = try await Registry.load(from: writerStore)
        let fillingStore = try await PostgresRegistryStore.open(location)
        let filling = Registry.open(fillingStore)
        #expect(filling.staleness == .zero, "nothing cached while filling, so nothing is stale")
        let early = try await writer.addSubscription { _ in .make(restrictionKey: Self.key, now: 1, set: .make(now: 1)) }
        if case .active(let found) = try await filling.lookup(pushToken: early.pushToken) { #expect(found == early) } else {
            Issue.record("a subscription another instance created is not served while filling")
        }
        try await filling.catchUp()  // nothing to do while filling, and no harm
        try await filling.fill()
        let late = try await writer.addSubscription { _ in .make(restrictionKey: nil, now: 2) }
        _ = try await writer.remove(id: early.id, now: 3)
        try await filling.catchUp()
        if case .active(let found) = try await filling.lookup(pushToken: late.pushToken) { #expect(found == late) } else {
            Issue.record("a subscription created after the fill is not found")
        }
        if case .deleted = try await filling.lookup(pushToken: early.pushToken) {} else {
            Issue.record("a delete after the fill did not reach the filled index")
        }
        try await writerStore.close()
        try await fillingStore.close()
    }

    @Test("a store that cannot be read while filling is an error, never a 404 for what may exist")
    func storeFailureWhileFilling() async throws {
        let store = FailingReads()
        let registry = Registry.open(store)
        await #expect(throws: FailingReads.Failure.self) { try await registry.lookup(pushToken: .random()) }
        await #expect(throws: FailingReads.Failure.self) { try await registry.findList(id: .random()) }
        await #expect(throws: FailingReads.Failure.self) { try await registry.subscriptions(pushTokens: [.random()]) }
    }

    /// A memory store whose reads by key fail (a database gone while the index fills).
    final class FailingReads: RegistryStore, @unchecked Sendable {
        struct Failure: Error {}
        let base = MemoryStore()
        func load() async throws -> RegistrySnapshot { try await base.load() }
        func lookup(pushToken: PushToken) async throws -> Registry.Lookup { throw Failure() }
        func subscriptions(pushTokens: [PushToken]) async throws -> [Subscription] { throw Failure() }
        func list(id: ListID) async throws -> PushList? { throw Failure() }
        func list(pushToken: ListPushToken) async throws -> PushList? { throw Failure() }
        func insert(_ subscription: Subscription) async throws { try await base.insert(subscription) }
        func insert(batch subscriptions: [Subscription]) async throws { try await base.insert(batch: subscriptions) }
        func markDeleted(id: SubscriptionID, at time: Int64) async throws { try await base.markDeleted(id: id, at: time) }
        func deleteSet(id: SetID, at time: Int64) async throws { try await base.deleteSet(id: id, at: time) }
        func purgeDeleted(before time: Int64) async throws { try await base.purgeDeleted(before: time) }
        func insertList(_ list: PushList) async throws { try await base.insertList(list) }
        func updateList(id: ListID, _ changes: [ListChange]) async throws { try await base.updateList(id: id, changes) }
        func deleteList(id: ListID) async throws { try await base.deleteList(id: id) }
        func installationSecret() async throws -> [UInt8] { try await base.installationSecret() }
        func close() async throws {}
        func hold(_ message: HeldMessage) async throws { try await base.hold(message) }
        func release(_ ids: [MessageID]) async throws { try await base.release(ids) }
        func heldMessages() async throws -> [HeldMessage] { try await base.heldMessages() }
        func insert(_ subscription: ReceiptSubscription) async throws { try await base.insert(subscription) }
        func deleteReceiptSubscription(id: ReceiptSubscriptionID) async throws { try await base.deleteReceiptSubscription(id: id) }
        func insert(_ requests: [ReceiptRequest]) async throws { try await base.insert(requests) }
        func removeRequests(_ messages: [MessageID]) async throws { try await base.removeRequests(messages) }
        func resolve(_ receipts: [Receipt]) async throws { try await base.resolve(receipts) }
        func removeReceipts(_ receipts: [Receipt]) async throws { try await base.removeReceipts(receipts) }
        func loadReceipts() async throws -> (subscriptions: [ReceiptSubscription], requests: [ReceiptRequest], receipts: [Receipt]) {
            try await base.loadReceipts()
        }
    }

    @Test("over HTTP while filling: pushes are delivered, a subscribe or delete is 503 errno 136 with Retry-After, /readyz says filling")
    func apiWhileFilling() async throws {
        let store = MemoryStore()
        let broker = RecordingPublisher()
        let population = try await populate(store)
        let test = try await TestAPI(store: store, broker: broker, filled: false)
        let push = await test.api.handle(APIRequest(method: .POST, path: "/p/\(population.plain.pushToken.rawValue)",
                                                    headers: HTTPHeaders([("TTL", "60")])))
        #expect(push.status == .created)
        #expect(broker.messages.count == 1 && broker.messages.first?.topic.contains(population.plain.topicID.rawValue) == true)
        #expect(await test.api.handle(APIRequest(method: .POST, path: "/p/\(population.deleted.pushToken.rawValue)",
                                                 headers: HTTPHeaders([("TTL", "60")]))).status == .gone)
        #expect(await test.api.handle(APIRequest(method: .POST, path: "/p/\(PushToken.random().rawValue)",
                                                 headers: HTTPHeaders([("TTL", "60")]))).status == .notFound)
        for request in [APIRequest(method: .POST, path: "/subscribe"), APIRequest(method: .DELETE, path: "/s/\(population.plain.id.rawValue)")] {
            let refused = await test.api.handle(request)
            #expect(refused.status == .serviceUnavailable, "\(request.method) \(request.path)")
            #expect(String(buffer: refused.body).contains("\"errno\":136"))
            #expect(refused.headers["Retry-After"] == ["5"])
        }
        let filling = await test.api.handle(APIRequest(method: .GET, path: "/readyz"))
        #expect(filling.status == .ok)
        #expect(String(buffer: filling.body).contains("\"registry\":\"filling\"") && !String(buffer: filling.body).contains("subscriptions"))

        try await test.registry.fill()
        #expect(await test.api.handle(APIRequest(method: .POST, path: "/subscribe")).status == .created)
        let ready = await test.api.handle(APIRequest(method: .GET, path: "/readyz"))
        #expect(String(buffer: ready.body).contains("\"registry\":\"ready\"") && String(buffer: ready.body).contains("\"subscriptions\":4"))
    }

    @Test("start-up waits for a fill up to its budget: a quick one is in, a slow one goes on while serving, a failed one is an error")
    func fillerBudget() async throws {
        let logger = Logger(label: "test")
        let quick = MemoryStore()
        _ = try await populate(quick)
        let quickRegistry = Registry.open(quick)
        let quickFiller = RegistryFiller(registry: quickRegistry, purger: DeletedSubscriptionPurger(registry: quickRegistry, retentionDays: 30, logger: logger), logger: logger)
        #expect(try await quickFiller.awaitFill(atMost: .seconds(5)))
        #expect(!quickRegistry.isFilling)

        let slow = MemoryStore()
        _ = try await populate(slow)
        slow.loadDelay = .seconds(3)
        let slowRegistry = Registry.open(slow)
        let slowFiller = RegistryFiller(registry: slowRegistry, purger: DeletedSubscriptionPurger(registry: slowRegistry, retentionDays: 30, logger: logger), logger: logger)
        let started = ContinuousClock.now
        #expect(try await !slowFiller.awaitFill(atMost: .milliseconds(100)))
        // Well before the fill's 3 s: a loaded machine wakes a 100 ms timer late, not 3 s late.
        #expect(ContinuousClock.now - started < .seconds(2), "start-up went on at the budget")
        #expect(slowRegistry.isFilling)
        try await slowFiller.run()
        #expect(!slowRegistry.isFilling && slowRegistry.count == 3)

        // A stop during a long fill does not wait for it.
        let long = MemoryStore()
        long.loadDelay = .seconds(30)
        let longRegistry = Registry.open(long)
        let longFiller = RegistryFiller(registry: longRegistry, purger: DeletedSubscriptionPurger(registry: longRegistry, retentionDays: 30, logger: logger), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: longFiller, successTerminationBehavior: .ignore)], logger: logger))
        let stopping = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(ContinuousClock.now - stopping < .seconds(5), "the stop waited for the fill")
        #expect(longRegistry.isFilling)

        let broken = MemoryStore()
        broken.failLoads = true
        let brokenRegistry = Registry.open(broken)
        let brokenFiller = RegistryFiller(registry: brokenRegistry, purger: DeletedSubscriptionPurger(registry: brokenRegistry, retentionDays: 30, logger: logger), logger: logger)
        await #expect(throws: (any Error).self) { _ = try await brokenFiller.awaitFill(atMost: .seconds(5)) }
    }
}
