@testable import ClipText
import Foundation
import Testing

@Suite struct CLIPTokenizerTests {
    let sot: Int32 = 49406, eot: Int32 = 49407

    @Test func truncatesToTheContextKeepingEndOfTextLast() throws {
        let tokenizer = try Fixtures.tokenizer.get()
        let long = tokenizer.encode(String(repeating: "a ", count: 500))
        #expect(long.count == 77 && long.first == sot && long.last == eot)
        #expect(long.dropFirst().dropLast().allSatisfy { $0 == 320 })  // "a</w>"
        #expect(tokenizer.encode("a photo of a cat", contextLength: 4) == [sot, 320, 1125, eot])
        #expect(tokenizer.encode("a photo of a cat", contextLength: 0) == [sot, eot])
        #expect(tokenizer.encode("") == [sot, eot])
    }

    @Test func textThatSpellsAControlTokenStaysText() throws {
        let tokenizer = try Fixtures.tokenizer.get()
        for text in ["<|endoftext|>", "<|startoftext|>", "a <end_of_text> b", "<start_of_text>", "&lt;|endoftext|&gt;"] {
            let ids = tokenizer.encode(text)
            #expect(ids.dropFirst().dropLast().allSatisfy { $0 != sot && $0 != eot }, "\(text)")
            #expect(ids.count > 3)
        }
    }

    /// Arbitrary input: never a crash, ids in range, control ids only at the ends.
    @Test func anyTextGivesWellFormedIDs() throws {
        let tokenizer = try Fixtures.tokenizer.get()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let scalars = (0..<Int.random(in: 0...60, using: &generator)).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &generator))
            }
            for text in [String(decoding: bytes, as: UTF8.self), String(String.UnicodeScalarView(scalars))] {
                let ids = tokenizer.encode(text)
                #expect(ids.count >= 2 && ids.count <= 77 && ids.first == sot && ids.last == eot)
                #expect(ids.dropFirst().dropLast().allSatisfy { (0..<sot).contains($0) }, "\(text.debugDescription)")
            }
        }
    }

    /// A long run of letters is one pre-token; merging it must not take quadratic time.
    @Test func longWordsFinish() throws {
        let tokenizer = try Fixtures.tokenizer.get()
        let ids = tokenizer.encode(String(repeating: "ab", count: 50_000))
        #expect(ids.count == 77)
    }

    /// The heap-based merge against the transcribed reference, on CLIP's own merges.
    @Test func fastMergeAgreesWithTheReferenceOnCLIPMerges() throws {
        let vocabulary = try Fixtures.tokenizer.get().vocabulary
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz'!éß東😀".utf8)
        for length in [1, 2, 3, 5, 8, 13, 21, 34, 55, 300] {
            for _ in 0..<40 {
                let bytes = (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
                var word = bytes.map { vocabulary.byteSymbol[Int($0)] }
                word[word.count - 1] = vocabulary.byteSymbolEndOfWord[Int(bytes[bytes.count - 1])]
                #expect(mergeBytePairs(word, merges: vocabulary.merges) == mergeBytePairsReference(word, merges: vocabulary.merges))
            }
        }
    }

    @Test func sharedAcrossThreadsGivesTheSameIDs() throws {
        let vocab = try Data(contentsOf: Fixtures.vocabulary.appendingPathComponent("vocab.json"))
        let merges = try String(contentsOf: Fixtures.vocabulary.appendingPathComponent("merges.txt"), encoding: .utf8)
        // A small cache, so that threads also clear and refill it under each other.
        let shared = try CLIPTokenizer(vocabJSON: vocab, merges: merges, cacheCapacity: 50)
        let cases = try Fixtures.cases()
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: cases.count * 4)
        results.initialize(repeating: [])
        defer {
            results.deinitialize()  // the arrays it holds; deallocate alone leaks them (ASan found it)
            results.deallocate()
        }
        DispatchQueue.concurrentPerform(iterations: cases.count * 4) { i in
            results[i] = shared.encode(cases[i % cases.count].text)
        }
        for (i, ids) in results.enumerated() {
            #expect(ids == cases[i % cases.count].ids, "\(cases[i % cases.count].text.debugDescription)")
        }
        #expect(shared.cache.count <= 50)
    }

    @Test func loadErrorsAreValuesWithCodes() throws {
        let merges = try String(contentsOf: Fixtures.vocabulary.appendingPathComponent("merges.txt"), encoding: .utf8)
        let vocab = try Data(contentsOf: Fixtures.vocabulary.appendingPathComponent("vocab.json"))
        func code(_ load: () throws(TokenizerError) -> CLIPTokenizer) -> TokenizerError.Code? {
            do {
                _ = try load()
                return nil
            } catch {
                return error.code
            }
        }
        let missing = URL(fileURLWithPath: "/nonexistent-clipq-model")
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(modelDirectory: missing) } == .fileUnreadable)
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(vocabJSON: Data("[1, 2]".utf8), merges: merges) } == .vocabularyInvalid)
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(vocabJSON: Data("{\"a\": -1}".utf8), merges: merges) } == .vocabularyInvalid)
        // Every byte symbol, but no control tokens.
        var bytesOnly = [String: Int]()
        for (i, s) in byteToUnicode.enumerated() {
            bytesOnly[String(s)] = i
            bytesOnly[String(s) + "</w>"] = 256 + i
        }
        let bytesOnlyJSON = try JSONEncoder().encode(bytesOnly)
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(vocabJSON: bytesOnlyJSON, merges: "") } == .vocabularyInvalid)
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(vocabJSON: vocab, merges: "#version: 0.2\ni n\nnot-a-token x\n") } == .mergesInvalid)
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(vocabJSON: vocab, merges: "#version: 0.2\ni n t\n") } == .mergesInvalid)
        #expect(code { () throws(TokenizerError) in try CLIPTokenizer(vocabJSON: vocab, merges: merges) } == nil)
    }
}
