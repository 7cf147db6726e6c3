import NIOHTTP1

/// How large a route's request body may be.
enum BodyLimit: Sendable {
    /// `limits.max_payload_bytes`: pushes, subscribe options, and anything without a body.
    case payload
    /// `lists.max_document_bytes`: list documents and merge patches.
    case document
}

/// One row of the route table: method + path pattern → handler, with its body limit and the
/// label the access log shows (identifiers elided: a capability never reaches a log).
struct Route: Sendable {
    let method: HTTPMethod
    let segment: String
    let takesIdentifier: Bool
    let body: BodyLimit
    let label: String
    let handler: @Sendable (APIRequest, Substring?) async throws(APIError) -> APIResponse

    /// A route on a fixed path.
    init(_ method: HTTPMethod, _ pattern: PathPattern<Void>, body: BodyLimit = .payload,
         _ handler: @escaping @Sendable (APIRequest) async throws(APIError) -> APIResponse) {
        self.method = method
        self.segment = pattern.segment
        self.takesIdentifier = false
        self.body = body
        self.label = "\(method.rawValue) /\(pattern.segment)"
        self.handler = { request, _ throws(APIError) in try await handler(request) }
    }

    /// A route on a path with an identifier; a malformed identifier is 404 without a lookup.
    init<Kind>(_ method: HTTPMethod, _ pattern: PathPattern<Identifier<Kind>>, body: BodyLimit = .payload,
               _ handler: @escaping @Sendable (APIRequest, Identifier<Kind>) async throws(APIError) -> APIResponse) {
        self.method = method
        self.segment = pattern.segment
        self.takesIdentifier = true
        self.body = body
        self.label = "\(method.rawValue) /\(pattern.segment)/{\(Kind.name)}"
        self.handler = { request, text throws(APIError) in
            guard let text, let id = Identifier<Kind>(text) else { throw .notFound }
            return try await handler(request, id)
        }
    }
}

/// Finds the route of a request: one dictionary lookup by first segment, then the method.
struct Router: Sendable {
    private let routes: [String: [Route]]
    /// The push body limit in force (`limits.max_payload_bytes`, reloadable).
    private let payloadLimit: @Sendable () -> Int
    private let documentLimit: Int

    init(_ table: [Route], payloadLimit: @escaping @Sendable () -> Int, documentLimit: Int) {
        self.routes = Dictionary(grouping: table) { Self.key($0.segment, identified: $0.takesIdentifier) }
        self.payloadLimit = payloadLimit
        self.documentLimit = max(documentLimit, LimitsConfig().maxPayloadBytes)
    }

    private static func key(_ segment: some StringProtocol, identified: Bool) -> String {
        identified ? "\(segment)/" : String(segment)
    }

    func match(method: HTTPMethod, path: String) -> MatchedRoute {
        guard let (segment, identifier) = Self.segments(of: path), let candidates = routes[Self.key(segment, identified: identifier != nil)] else {
            return MatchedRoute(bodyLimit: payloadLimit(), label: "unknown") { _ in APIError.notFound.response }
        }
        guard let route = candidates.first(where: { $0.method == method }) else {
            let allowed = candidates.map(\.method)
            return MatchedRoute(bodyLimit: payloadLimit(), label: "\(candidates[0].label.split(separator: " ").last ?? "")") { _ in
                APIError.methodNotAllowed(allowed).response
            }
        }
        let handler = route.handler
        return MatchedRoute(bodyLimit: route.body == .document ? documentLimit : payloadLimit(), label: route.label) { request in
            do throws(APIError) {
                return try await handler(request, identifier)
            } catch {
                return error.response
            }
        }
    }

    /// The parts `path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: true)`
    /// gives when it gives one or two — a route's segment and the identifier after it — or `nil`
    /// for none or three; the same walk as `split`, without the array it allocates (two
    /// allocations on every request).
    static func segments(of path: String) -> (segment: Substring, identifier: Substring?)? {
        let utf8 = path.utf8
        var parts: (Substring?, Substring?) = (nil, nil)
        var count = 0
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            guard utf8[index] == UInt8(ascii: "/") else {
                index = utf8.index(after: index)
                continue
            }
            if start != index {
                count += 1
                if count == 1 { parts.0 = path[start..<index] } else { parts.1 = path[start..<index] }
            }
            index = utf8.index(after: index)
            start = index
            // Two parts split off: the rest, if any, is the third (split's maxSplits).
            if count == 2 { break }
        }
        if start != utf8.endIndex {
            count += 1
            if count == 1 { parts.0 = path[start...] } else if count == 2 { parts.1 = path[start...] }
        }
        guard count == 1 || count == 2, let segment = parts.0 else { return nil }
        return (segment, parts.1)
    }
}
