import ClipText
import Testing

/// Token ids against open_clip's tokenizer, on the texts of Tests/Fixtures/tokenizer.
@Suite struct ReferenceParityTests {
    @Test func loadsTheRealVocabulary() throws {
        let tokenizer = try Fixtures.tokenizer.get()
        #expect(tokenizer.vocabularySize == 49408)
        #expect(tokenizer.startOfTextID == 49406)
        #expect(tokenizer.endOfTextID == 49407)
    }

    @Test func everyFixtureTextGetsTheReferenceIDs() throws {
        let tokenizer = try Fixtures.tokenizer.get()
        let cases = try Fixtures.cases()
        #expect(cases.count >= 500)
        var failures: [String] = []
        for c in cases {
            let ids = tokenizer.encode(c.text)
            if ids != c.ids {
                failures.append("[\(c.category)/\(c.set)] \(c.text.debugDescription)\n  got  \(ids)\n  want \(c.ids)")
            }
        }
        #expect(failures.count == 0, "\(failures.count) of \(cases.count) differ:\n\(failures.prefix(25).joined(separator: "\n"))")
    }

    /// The two sets where clipq departs from open_clip on purpose; each departure is recorded.
    @Test func departuresFromOpenCLIPAreOnlyMojibakeAndControlSpellings() throws {
        let cases = try Fixtures.cases()
        for c in cases {
            switch c.set {
            case "exact":
                #expect(c.open_clip_ids == nil)
            case "mojibake", "control_spelling":
                #expect(c.open_clip_ids != nil && c.open_clip_ids != c.ids, "\(c.text.debugDescription)")
            default:
                Issue.record("unknown set \(c.set)")
            }
        }
        #expect(cases.filter { $0.set == "mojibake" }.count <= 20)
        #expect(cases.filter { $0.set == "control_spelling" }.allSatisfy { $0.category == "special_tokens" })
    }
}
