import Testing
@testable import Pushgate

@Suite("Identifiers")
struct IdentifierTests {
    @Test("identifiers drawn in bulk are well formed, all different, and unlike those of another draw")
    func bulk() {
        let first = MessageID.random(count: 5_000), second = MessageID.random(count: 5_000)
        #expect(first.count == 5_000)
        #expect(first.allSatisfy { MessageID.isWellFormed($0.rawValue) && $0.rawValue.utf8.count == 22 })
        #expect(Set(first + second).count == 10_000)
        #expect(MessageID.random(count: 1).count == 1 && MessageID.random(count: 0).isEmpty)
        // Every base64url character shows up across 160,000 random octets; a bias (zeros left
        // unfilled by a short read) would show as one character far above its share.
        let characters = first.flatMap { Array($0.rawValue.utf8) }
        let counts = Dictionary(characters.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts.count == 64)
        #expect(counts.values.max()! < 3 * characters.count / 64)
    }
}
