import Foundation
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

/// Two instances on one PostgreSQL database (issue 13): each is the whole API over its own
/// ``PostgresRegistryStore``, as two processes would be; what one creates the other serves at
/// once, what one deletes the other honours within ``Registry/pollInterval`` (in practice within
/// a notification's round trip), and the caps hold across both.
@Suite("Shared registry (PostgreSQL)")
struct SharedRegistryTests {
    let creator = VAPIDSigningKey.generate()

    /// One instance: its API, and the task following the other instances' changes.
    struct Instance: Sendable {
        let api: PushgateAPI
        let delivery: MQTTDelivery
        let receipts: ReceiptCenter
        let broker: RecordingPublisher
        let registry: Registry
        let store: PostgresRegistryStore
        let follower: Task<Void, Never>
        let receiptFollower: Task<Void, any Error>

        func close() async throws {
            follower.cancel()
            await follower.value
            receiptFollower.cancel()
            _ = await receiptFollower.result
            try await store.close()
        }
    }

    func instances(_ count: Int, maxLists: Int = 100, maxMembers: Int = 1000) async throws -> [Instance] {
        let location = try await TestPostgres.freshDatabase()
        var instances: [Instance] = []
        for _ in 0..<count {
            let store = try await PostgresRegistryStore.open(location)
            let broker = RecordingPublisher()
            let test = try await TestAPI(store: store, broker: broker) { settings in
                settings.lists.maxListsPerKey = maxLists
                settings.lists.maxMembers = maxMembers
            }
            let registry = test.registry
            let follower = Task { await registry.followChanges { _ in } }
            let center = test.receipts
            instances.append(Instance(api: test.api, delivery: test.delivery, receipts: center, broker: broker, registry: registry, store: store,
                                      follower: follower, receiptFollower: Task { try await center.run() }))
        }
        return instances
    }

    func vapid() -> (String, String) {
        ("Authorization", VAPIDToken.authorization(audience: TestAPI.publicURL, subject: nil, key: creator, now: TestAPI.now))
    }

    func subscribe(_ api: PushgateAPI, set: String? = nil) async throws -> (push: String, id: String, set: String?, status: HTTPResponseStatus) {
        var headers = HTTPHeaders()
        if let set { headers.add(name: "Link", value: "<\(set)>; rel=\"urn:ietf:params:push:set\"") }
        let response = await api.handle(APIRequest(method: .POST, path: "/subscribe", headers: headers))
        guard response.status == .created else { return ("", "", nil, response.status) }
        let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
        return (body["endpoint"] as! String, String((body["subscription"] as! String).split(separator: "/").last!), body["set"] as? String, response.status)
    }

    func push(_ api: PushgateAPI, _ url: String) async -> HTTPResponseStatus {
        await api.handle(APIRequest(method: .POST, path: URL(string: url)!.path, headers: HTTPHeaders([("TTL", "60")]))).status
    }

    func createList(_ api: PushgateAPI, _ members: [String]) async throws -> (id: String, push: String, status: HTTPResponseStatus) {
        let body = try JSONSerialization.data(withJSONObject: Dictionary(uniqueKeysWithValues: members.map { ($0, [String: Any]()) }))
        let response = await api.handle(APIRequest(method: .POST, path: "/lists", headers: HTTPHeaders([vapid(), ("Content-Type", "application/push-aggregation+json")]),
                                                   body: ByteBuffer(bytes: body)))
        guard response.status == .created else { return ("", "", response.status) }
        let json = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
        return (String((json["list"] as! String).split(separator: "/").last!), String((json["endpoint"] as! String).split(separator: "/").last!), response.status)
    }

    func patch(_ api: PushgateAPI, _ id: String, _ members: [String: Any]) async throws -> HTTPResponseStatus {
        await api.handle(APIRequest(method: .PATCH, path: "/l/\(id)", headers: HTTPHeaders([vapid(), ("Content-Type", "application/merge-patch+json")]),
                                    body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: members)))).status
    }

    /// `condition` once it holds, or after the change log's bound (`Registry.pollInterval` and
    /// some): a change made via one instance reaches the other within it, sooner when notified.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < Registry.pollInterval * 3 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    func members(_ api: PushgateAPI, _ id: String) async throws -> Set<String> {
        let response = await api.handle(APIRequest(method: .GET, path: "/l/\(id)", headers: HTTPHeaders([vapid()])))
        guard response.status == .ok else { return [] }
        return Set((try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]).keys)
    }

    @Test("subscribe via A, push via B at once; delete via A, B answers 410 within the bound; delete via B what A just made", .enabled(if: TestPostgres.server != nil))
    func createAndDeleteAcross() async throws {
        let all = try await instances(2)
        let (a, b) = (all[0], all[1])
        let subscription = try await subscribe(a.api)
        #expect(await push(b.api, subscription.push) == .created, "B had never seen it: the miss caught up")
        #expect(await a.api.handle(APIRequest(method: .DELETE, path: "/s/\(subscription.id)")).status == .noContent)
        let deleted = ContinuousClock.now
        var status = await push(b.api, subscription.push)
        while status != .gone, ContinuousClock.now - deleted < .seconds(3) {
            try await Task.sleep(for: .milliseconds(2))
            status = await push(b.api, subscription.push)
        }
        let propagation = ContinuousClock.now - deleted
        #expect(status == .gone)
        #expect(propagation < Registry.pollInterval, "within the documented bound (\(propagation))")

        let other = try await subscribe(a.api)
        #expect(await b.api.handle(APIRequest(method: .DELETE, path: "/s/\(other.id)")).status == .noContent,
                "a write catches up first, so B finds what A made a moment ago")
        #expect(await b.api.handle(APIRequest(method: .DELETE, path: "/s/\(other.id)")).status == .notFound)
        for instance in all { try await instance.close() }
    }

    @Test("a list created via B is read and pushed via A, and its members' deletion via A leaves it everywhere", .enabled(if: TestPostgres.server != nil))
    func listsAcross() async throws {
        let all = try await instances(2)
        let (a, b) = (all[0], all[1])
        let first = try await subscribe(a.api), second = try await subscribe(b.api)
        let list = try await createList(b.api, [first.push, second.push])
        #expect(list.status == .created)
        #expect(try await members(a.api, list.id) == [first.push, second.push])
        let pushed = await a.api.handle(APIRequest(method: .POST, path: "/lp/\(list.push)", headers: HTTPHeaders([vapid(), ("TTL", "60")])))
        #expect(pushed.status == .created)
        #expect(pushed.headers.first(name: "Pushgate-Recipients") == "2")
        #expect(await a.api.handle(APIRequest(method: .DELETE, path: "/s/\(first.id)")).status == .noContent)
        #expect(try await eventually { try await members(b.api, list.id) == [second.push] })
        #expect(await a.api.handle(APIRequest(method: .DELETE, path: "/l/\(list.id)", headers: HTTPHeaders([vapid()]))).status == .noContent)
        #expect(try await eventually {
            await b.api.handle(APIRequest(method: .POST, path: "/lp/\(list.push)", headers: HTTPHeaders([vapid(), ("TTL", "60")]))).status == .notFound
        })
        for instance in all { try await instance.close() }
    }

    @Test("lists.max_lists_per_key holds across instances: 8 simultaneous creates through two instances, 3 allowed", .enabled(if: TestPostgres.server != nil))
    func capAcross() async throws {
        let all = try await instances(2, maxLists: 3)
        let member = try await subscribe(all[0].api).push
        let statuses = await withTaskGroup(of: HTTPResponseStatus.self) { group in
            for n in 0..<8 { group.addTask { (try? await createList(all[n % 2].api, [member]).status) ?? .internalServerError } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count { $0 == .created } == 3)
        #expect(statuses.count { $0 == .forbidden } == 5)
        for instance in all { try await instance.close() }
    }

    @Test("PATCHes through both instances at once removing different members: both removals hold everywhere", .enabled(if: TestPostgres.server != nil))
    func patchesAcross() async throws {
        let all = try await instances(2)
        let (a, b) = (all[0], all[1])
        var made: [String] = []
        for _ in 0..<3 { made.append(try await subscribe(a.api).push) }
        let urls = made
        let list = try await createList(a.api, urls)
        async let first = patch(a.api, list.id, [urls[0]: NSNull()])
        async let second = patch(b.api, list.id, [urls[1]: NSNull()])
        #expect(try await first == .ok)
        #expect(try await second == .ok)
        #expect(try await eventually { try await members(a.api, list.id) == [urls[2]] })
        #expect(try await eventually { try await members(b.api, list.id) == [urls[2]] })
        for instance in all { try await instance.close() }
    }

    @Test("joining a set via B while A deletes it: never a live member of a deleted set, in either index or the store", .enabled(if: TestPostgres.server != nil))
    func setDeleteRacingJoin() async throws {
        let all = try await instances(2)
        let (a, b) = (all[0], all[1])
        for _ in 0..<10 {
            let founder = try await subscribe(a.api)
            let set = try #require(founder.set)
            async let joined = subscribe(b.api, set: set)
            async let deleted = a.api.handle(APIRequest(method: .DELETE, path: URL(string: set)!.path))
            let (join, delete) = try await (joined, deleted)
            #expect(delete.status == .noContent)
            #expect(join.status == .created || join.status == .badRequest)
            try await Task.sleep(for: .milliseconds(100))
            if join.status == .created {
                #expect(await push(a.api, join.push) == .gone, "a member made before the delete was deleted with the set")
                // B hears of A's delete through the change feed: within its bound, not a fixed 100 ms.
                #expect(try await eventually { await push(b.api, join.push) == .gone })
            }
        }
        let snapshot = try await a.store.load()
        #expect(snapshot.subscriptions.allSatisfy { subscription in subscription.set.map { set in snapshot.sets.contains(set) } ?? true })
        for instance in all { try await instance.close() }
    }

    @Test("Topic messages across instances: replaced via B what A holds, one resend per round across both, released once by whoever gets the ack",
          .enabled(if: TestPostgres.server != nil))
    func heldAcross() async throws {
        let all = try await instances(2)
        let (a, b) = (all[0], all[1])
        let subscription = try await subscribe(a.api)
        let path = URL(string: subscription.push)!.path
        for instance in [a, b] {
            let response = await instance.api.handle(APIRequest(method: .POST, path: path, headers: HTTPHeaders([("TTL", "600"), ("Topic", "door")])))
            #expect(response.status == .created)
        }
        let held = try await a.store.heldMessages()
        #expect(held.count == 1, "B's message replaced A's in the shared queue")
        let newest = try #require(held.first).id
        let now = Int64(TestAPI.now.timeIntervalSince1970)
        async let dueA = a.store.takeDue(now: now + 11)
        async let dueB = b.store.takeDue(now: now + 11)
        #expect(try await dueA.count + dueB.count == 1, "one instance claims the resend")
        #expect(try await a.store.takeDue(now: now + 12).isEmpty, "rescheduled (20 s after the first resend)")
        #expect(try await b.delivery.acknowledge(newest) == .acknowledged)
        #expect(try await a.store.acknowledge(newest) == false, "released once")
        #expect(try await a.store.heldMessages().isEmpty)
        for instance in all { try await instance.close() }
    }

    @Test("receipts across three instances: subscription via A, push via B, the device's acknowledgement reaches C, A's open stream gets the receipt",
          .enabled(if: TestPostgres.server != nil))
    func receiptsAcross() async throws {
        let all = try await instances(3)
        let (a, b, c) = (all[0], all[1], all[2])
        let created = await a.api.handle(APIRequest(method: .POST, path: "/receipts", headers: HTTPHeaders([vapid()])))
        let receiptURL = try #require(created.headers["Location"].first)
        let receiptID = try #require(ReceiptSubscriptionID(String(receiptURL.split(separator: "/").last!)))
        let stream = try #require(try await a.receipts.receipts(of: receiptID))
        let subscription = try await subscribe(c.api)
        let accepted = await b.api.handle(APIRequest(method: .POST, path: URL(string: subscription.push)!.path, headers: HTTPHeaders([
            vapid(), ("TTL", "60"), ("Prefer", "respond-async"), ("Link", "<\(receiptURL)>; rel=\"urn:ietf:params:push:receipt\""),
        ])))
        #expect(accepted.status == .accepted, "B found the receipt subscription A made")
        let location = try #require(accepted.headers["Location"].first)
        let message = try #require(MessageID(String(location.split(separator: "/").last!)))
        let acknowledged = ContinuousClock.now
        #expect(try await c.delivery.acknowledge(message) == .acknowledged, "C had never seen the message; the shared store had its request")
        // Read by a task of its own, so a receipt that never comes fails the test instead of hanging it.
        let seen = Locked<(receipts: [Receipt], ended: Bool)>(([], false))
        let reader = Task {
            for await receipt in stream { seen.withLock { $0.receipts.append(receipt) } }
            seen.withLock { $0.ended = true }
        }
        defer { reader.cancel() }
        func wait(_ done: @escaping @Sendable ((receipts: [Receipt], ended: Bool)) -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while !seen.withLock({ done($0) }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await wait { !$0.receipts.isEmpty }
        #expect(ContinuousClock.now - acknowledged < .seconds(1), "the notification brought it (no waiting for the poll)")
        let receipt = try #require(seen.withLock { $0.receipts.first })
        #expect(receipt.message == message && receipt.status == .acknowledged)
        await a.receipts.delivered(receipt)
        #expect(try await b.store.undeliveredReceipts(of: receiptID).isEmpty, "written once, forgotten everywhere")
        #expect(await c.receipts.acknowledged(message) == false, "a second acknowledgement produces no second receipt")
        #expect(await b.api.handle(APIRequest(method: .DELETE, path: "/rs/\(receiptID.rawValue)", headers: HTTPHeaders([vapid()]))).status == .noContent)
        try await wait(\.ended)
        #expect(seen.withLock { $0.ended && $0.receipts.count == 1 }, "A's stream ended when B deleted the subscription, with nothing more")
        for instance in all { try await instance.close() }
    }
}

/// A value behind a lock, for test tasks that record what they see.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.withLock { body(&value) }
    }
}
