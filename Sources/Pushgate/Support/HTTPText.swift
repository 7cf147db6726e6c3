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

extension HTTPHeaders {
    /// How many `name` fields the request has, and the first one's value, without building the
    /// array of values `self[name]` does (the push path reads its headers on every request).
    func fieldCount(_ name: String) -> (count: Int, first: String?) {
        var count = 0
        var first: String?
        for (fieldName, value) in self where fieldName.utf8.equalsIgnoringASCIICase(name.utf8) {
            if count == 0 { first = value }
            count += 1
        }
        return (count, first)
    }

    /// How many comma-separated elements the `name` fields hold together, and the first one,
    /// trimmed of optional whitespace — `self[name].flatMap { $0.split(separator: ",") }` without
    /// the arrays. `omittingEmpty`: as `split`'s `omittingEmptySubsequences` (an element of
    /// only spaces is not empty; it trims to "").
    func elementCount(_ name: String, omittingEmpty: Bool) -> (count: Int, first: Substring?) {
        var count = 0
        var first: Substring?
        for (fieldName, value) in self where fieldName.utf8.equalsIgnoringASCIICase(name.utf8) {
            let text = Substring(value)
            var start = text.startIndex
            while true {
                let end = text[start...].firstIndex(of: ",") ?? text.endIndex
                if !(omittingEmpty && start == end) {
                    if count == 0 { first = text[start..<end].trimmingOWS() }
                    count += 1
                }
                guard end < text.endIndex else { break }
                start = text.index(after: end)
            }
        }
        return (count, first)
    }
}

extension Sequence<UInt8> {
    /// Byte-wise equality with ASCII letters compared case-insensitively (header names, tokens).
    func equalsIgnoringASCIICase(_ other: some Sequence<UInt8>) -> Bool {
        var mine = makeIterator()
        var theirs = other.makeIterator()
        while true {
            switch (mine.next(), theirs.next()) {
            case (nil, nil): return true
            case (let a?, let b?):
                guard a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z")) else { return false }
            default: return false
            }
        }
    }
}
