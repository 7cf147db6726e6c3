import NIOCore
import NIOHTTP1
import PushgateTestSupport
import Testing
@testable import Pushgate

/// The route table and the URL scheme: what a request reaches, with which body limit and label.
@Suite("Router and resource URLs")
struct RouterTests {
    let token = String(repeating: "A", count: 22)

    func api() async throws -> PushgateAPI {
        try await TestAPI(store: MemoryStore(), broker: RecordingPublisher()) { $0.lists.maxDocumentBytes = 65_536 }.api
    }

    @Test("a path splits into segment and identifier exactly as split(separator:maxSplits:omittingEmptySubsequences:) does")
    func segments() {
        let paths = ["", "/", "//", "/p", "p", "/p/", "/p/abc", "p/abc", "/p//abc", "//p/abc/", "/p/abc/", "/p/abc/def",
                     "/p/abc//", "/p/abc/d/e", "///p///abc///", "/é/ß", "/subscriptions/\(token)", "/a/b/", "/a/b/c"]
        for path in paths {
            let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: true)
            let expected = (1...2).contains(parts.count) ? [String(parts[0]), parts.count == 2 ? String(parts[1]) : nil] : nil
            let found = Router.segments(of: path).map { [String($0.segment), $0.identifier.map(String.init)] }
            #expect(found == expected, "\(path)")
        }
    }

    @Test("labels name the route, never the identifier; body limits follow the route")
    func matching() async throws {
        let api = try await api()
        #expect(api.match(method: .POST, path: "/subscribe").label == "POST /subscribe")
        let push = api.match(method: .POST, path: "/p/\(token)")
        #expect(push.label == "POST /p/{push}" && push.bodyLimit == 4096)
        #expect(!push.label.contains(token))
        #expect(api.match(method: .PATCH, path: "/l/\(token)").bodyLimit == 65_536)
        #expect(api.match(method: .POST, path: "/lists").bodyLimit == 65_536)
        #expect(api.match(method: .GET, path: "/l/\(token)").bodyLimit == 4096)
        #expect(api.match(method: .DELETE, path: "/s/\(token)/").label == "DELETE /s/{subscription}")
        #expect(api.match(method: .POST, path: "/nowhere").label == "unknown")
    }

    @Test("malformed identifiers and unknown paths are 404; a known path with another method is 405 with Allow")
    func refusals() async throws {
        let api = try await api()
        for path in ["/p/short", "/p/\(token)/x", "/p/\(String(repeating: "A", count: 21))!", "/x", "/", "/subscribe/\(token)"] {
            #expect(await api.handle(APIRequest(method: .POST, path: path)).status == .notFound, "\(path)")
        }
        let wrong = await api.handle(APIRequest(method: .GET, path: "/p/\(token)"))
        #expect(wrong.status == .methodNotAllowed && wrong.headers["Allow"] == ["POST"])
        let list = await api.handle(APIRequest(method: .POST, path: "/l/\(token)"))
        #expect(list.status == .methodNotAllowed && Set(list.headers["Allow"].first!.split(separator: ",").map { $0.trimmingOWS() }) == ["GET", "PATCH", "DELETE"])
        #expect(await api.handle(APIRequest(method: .GET, path: "/healthz")).status == .ok)
    }

    @Test("ResourceURLs builds every URL under the public URL and reads its own push URLs back")
    func urls() throws {
        let urls = ResourceURLs(base: "https://push.example.net/")
        let push = try #require(PushToken(token))
        #expect(urls.url(.push, push) == "https://push.example.net/p/\(token)")
        #expect(urls.url(.listService) == "https://push.example.net/lists")
        #expect(urls.identifier(.push, in: "https://push.example.net/p/\(token)") == push)
        #expect(urls.identifier(.push, in: "https://other.example/p/\(token)") == nil)
        #expect(urls.identifier(.push, in: "https://push.example.net/s/\(token)") == nil)
        #expect(urls.identifier(.push, in: "https://push.example.net/p/\(token)x") == nil)
    }

    @Test("identifiers: random ones are well formed and distinct; descriptions never show the value")
    func identifiers() {
        let a = MessageID.random(), b = MessageID.random()
        #expect(a != b && MessageID(a.rawValue) == a && a.rawValue.count == 22)
        #expect("\(a)" == "message#…")
        #expect(PushToken("not a token") == nil)
    }
}
