import Foundation
import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
import WebPush
@testable import Pushgate

/// Concurrent writes to the same list or subscription (issue 10, and issue 15 #13): with a store
/// whose writes take time, requests interleave at every await; memory and the store must agree
/// afterwards, and the caps must hold.
@Suite("Registry races")
struct RegistryRaceTests {
    let store = MemoryStore()
    let broker = RecordingPublisher()
    let creator = VAPIDSigningKey.generate()

    func service(maxMembers: Int = 1000, maxLists: Int = 100) async throws -> PushgateAPI {
        try await TestAPI(store: store, broker: broker) { settings in
            settings.lists.maxMembers = maxMembers
            settings.lists.maxListsPerKey = maxLists
        }.api
    }

    func vapid() -> (String, String) {
        ("Authorization", VAPIDToken.authorization(audience: TestAPI.publicURL, subject: nil, key: creator, now: TestAPI.now))
    }

    func subscribe(_ service: PushgateAPI) async throws -> (push: String, id: String) {
        let response = await service.handle(APIRequest(method: .POST, path: "/subscribe"))
        let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
        return (body["endpoint"] as! String, String((body["subscription"] as! String).split(separator: "/").last!))
    }

    func subscribeMany(_ service: PushgateAPI, _ count: Int) async throws -> [String] {
        var urls: [String] = []
        for _ in 0..<count { urls.append(try await subscribe(service).push) }
        return urls
    }

    func document(_ members: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: members))
    }

    func createList(_ service: PushgateAPI, _ members: [String]) async throws -> (id: String, push: String, status: HTTPResponseStatus) {
        let request = APIRequest(method: .POST, path: "/lists", headers: HTTPHeaders([vapid(), ("Content-Type", "application/push-aggregation+json")]),
                                     body: document(Dictionary(uniqueKeysWithValues: members.map { ($0, [String: Any]()) })))
        let response = await service.handle(request)
        guard response.status == .created else { return ("", "", response.status) }
        let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
        return (String((body["list"] as! String).split(separator: "/").last!), String((body["endpoint"] as! String).split(separator: "/").last!), response.status)
    }

    func patch(_ service: PushgateAPI, _ id: String, _ members: [String: Any]) async -> APIResponse {
        await service.handle(APIRequest(method: .PATCH, path: "/l/\(id)", headers: HTTPHeaders([vapid(), ("Content-Type", "application/merge-patch+json")]),
                                            body: document(members)))
    }

    func members(_ service: PushgateAPI, _ id: String) async throws -> Set<String> {
        let response = await service.handle(APIRequest(method: .GET, path: "/l/\(id)", headers: HTTPHeaders([vapid()])))
        guard response.status == .ok else { return [] }
        return Set((try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]).keys)
    }

    @Test("two concurrent PATCHes removing different members: both removals hold in memory and in the store")
    func concurrentPatches() async throws {
        let service = try await service()
        let urls = try await subscribeMany(service, 3)
        let list = try await createList(service, urls)
        store.writeDelay = .milliseconds(20)
        async let first = patch(service, list.id, [urls[0]: NSNull()])
        async let second = patch(service, list.id, [urls[1]: NSNull()])
        #expect(await first.status == .ok)
        #expect(await second.status == .ok)
        store.writeDelay = .zero
        #expect(try await members(service, list.id) == [urls[2]])
        let reloaded = try await self.service()
        #expect(try await members(reloaded, list.id) == [urls[2]])
    }

    @Test("concurrent PATCHes cannot overshoot lists.max_members")
    func membersCap() async throws {
        let service = try await service(maxMembers: 3)
        let urls = try await subscribeMany(service, 5)
        let list = try await createList(service, [urls[0]])
        store.writeDelay = .milliseconds(20)
        async let first = patch(service, list.id, [urls[1]: [String: Any](), urls[2]: [String: Any]()])
        async let second = patch(service, list.id, [urls[3]: [String: Any](), urls[4]: [String: Any]()])
        let statuses = [await first.status, await second.status]
        store.writeDelay = .zero
        #expect(statuses.sorted { $0.code < $1.code } == [.ok, .badRequest])
        #expect(try await members(service, list.id).count == 3)
        #expect(try await members(try await self.service(), list.id).count == 3)
    }

    @Test("concurrent creates cannot overshoot lists.max_lists_per_key")
    func listsCap() async throws {
        let service = try await service(maxLists: 3)
        let member = try await subscribe(service).push
        store.writeDelay = .milliseconds(20)
        let statuses = await withTaskGroup(of: HTTPResponseStatus.self) { group in
            for _ in 0..<8 { group.addTask { (try? await createList(service, [member]).status) ?? .internalServerError } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        store.writeDelay = .zero
        #expect(statuses.count { $0 == .created } == 3)
        #expect(statuses.count { $0 == .forbidden } == 5)
    }

    @Test("a PATCH racing DELETE of the list: the list stays deleted, its push URL 404s")
    func patchRacingListDelete() async throws {
        let service = try await service()
        let a = try await subscribe(service), b = try await subscribe(service)
        let list = try await createList(service, [a.push])
        store.writeDelay = .milliseconds(20)
        async let deleted = service.handle(APIRequest(method: .DELETE, path: "/l/\(list.id)", headers: HTTPHeaders([vapid()])))
        try await Task.sleep(for: .milliseconds(5))
        async let patched = patch(service, list.id, [b.push: [String: Any]()])
        #expect(await deleted.status == .noContent)
        _ = await patched
        store.writeDelay = .zero
        let push = await service.handle(APIRequest(method: .POST, path: "/lp/\(list.push)", headers: HTTPHeaders([vapid(), ("TTL", "5")])))
        #expect(push.status == .notFound)
        #expect(try await members(try await self.service(), list.id).isEmpty)
    }

    @Test("a PATCH adding a member racing DELETE of that subscription: the member is in neither memory nor the store")
    func patchRacingSubscriptionDelete() async throws {
        let service = try await service()
        let a = try await subscribe(service), b = try await subscribe(service)
        let list = try await createList(service, [a.push])
        store.writeDelay = .milliseconds(20)
        async let deleted = service.handle(APIRequest(method: .DELETE, path: "/s/\(b.id)"))
        try await Task.sleep(for: .milliseconds(5))
        async let patched = patch(service, list.id, [b.push: [String: Any]()])
        #expect(await deleted.status == .noContent)
        _ = await patched
        store.writeDelay = .zero
        #expect(try await members(service, list.id) == [a.push])
        #expect(try await members(try await self.service(), list.id) == [a.push])
    }

    @Test("two simultaneous DELETEs of one subscription: one 204, one 404")
    func doubleDelete() async throws {
        let service = try await service()
        let a = try await subscribe(service)
        store.writeDelay = .milliseconds(20)
        async let first = service.handle(APIRequest(method: .DELETE, path: "/s/\(a.id)"))
        async let second = service.handle(APIRequest(method: .DELETE, path: "/s/\(a.id)"))
        let statuses = [await first.status, await second.status].map(\.code).sorted()
        #expect(statuses == [204, 404])
    }

    @Test("subscribes arriving together share one durable write; one refused (unknown set) fails alone; a failed write fails them all with 503")
    func groupedSubscribes() async throws {
        let service = try await service()
        let before = store.writes
        store.writeDelay = .milliseconds(20)
        let statuses = await withTaskGroup(of: HTTPResponseStatus.self) { group in
            for index in 0..<20 {
                group.addTask {
                    var headers = HTTPHeaders()
                    if index % 4 == 0 { headers.add(name: "Link", value: "<\(TestAPI.publicURL)/set/AAAAAAAAAAAAAAAAAAAAAA>; rel=\"urn:ietf:params:push:set\"") }
                    return await service.handle(APIRequest(method: .POST, path: "/subscribe", headers: headers)).status
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count { $0 == .created } == 15)
        #expect(statuses.count { $0 == .badRequest } == 5)
        #expect(store.writes - before < 10, "\(store.writes - before) writes for 20 subscribes")
        #expect(try await store.load().subscriptions.count == 15)

        store.failWrites = true
        let failed = await withTaskGroup(of: HTTPResponseStatus.self) { group in
            for _ in 0..<5 { group.addTask { await service.handle(APIRequest(method: .POST, path: "/subscribe")).status } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        store.failWrites = false
        store.writeDelay = .zero
        #expect(failed == Array(repeating: .serviceUnavailable, count: 5))
        #expect(try await store.load().subscriptions.count == 15)
        let fresh = await service.handle(APIRequest(method: .POST, path: "/subscribe"))
        #expect(fresh.status == .created, "the queue drains and serves later subscribes")
    }
}
