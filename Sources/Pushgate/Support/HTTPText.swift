import NIOHTTP1

extension StringProtocol {
    /// Trims HTTP optional whitespace (spaces and tabs).
    func trimmingOWS() -> Substring {
        let view = Substring(self)
        guard let first = view.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = view.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return view[first...last]
    }
}

extension HTTPHeaders {
    /// The comma-separated values of every `name` field, trimmed and lowercased (the codings of
    /// `Content-Encoding`, say).
    func lowercasedTokens(_ name: String) -> [String] {
        self[name].flatMap { $0.split(separator: ",") }.map { $0.trimmingOWS().lowercased() }
    }
}
