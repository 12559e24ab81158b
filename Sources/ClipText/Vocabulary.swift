import Foundation

/// One entry of merges.txt: merging the pair gives token `merged`; lower ranks merge first.
struct Merge: Sendable {
    var rank: Int32
    var merged: Int32
}

/// The BPE model of a Hugging Face CLIP directory: vocab.json (token -> id) and merges.txt
/// (a "#version" header, then one "left right" pair a line, in rank order).
struct Vocabulary: Sendable {
    /// The id of each byte's symbol, and of the same symbol ending a word ("</w>").
    let byteSymbol: [Int32]
    let byteSymbolEndOfWord: [Int32]
    /// Keyed by `pairKey(left, right)`.
    let merges: [UInt64: Merge]
    let startOfText: Int32
    let endOfText: Int32
    let count: Int

    init(vocabJSON: Data, merges text: String) throws(TokenizerError) {
        let ids: [String: Int]
        do {
            ids = try JSONDecoder().decode([String: Int].self, from: vocabJSON)
        } catch {
            throw TokenizerError(.vocabularyInvalid, "vocab.json is not an object of token to integer id: \(error)")
        }
        if let bad = ids.first(where: { !(0...Int(Int32.max)).contains($0.value) }) {
            throw TokenizerError(.vocabularyInvalid, "vocab.json gives \(bad.key.debugDescription) the id \(bad.value)")
        }
        func id(_ token: String) throws(TokenizerError) -> Int32 {
            guard let id = ids[token] else {
                throw TokenizerError(.vocabularyInvalid, "vocab.json lacks the token \(token.debugDescription)")
            }
            return Int32(id)
        }
        var byteSymbol = [Int32](), byteSymbolEndOfWord = [Int32]()
        for scalar in byteToUnicode {
            byteSymbol.append(try id(String(scalar)))
            byteSymbolEndOfWord.append(try id(String(scalar) + "</w>"))
        }
        self.byteSymbol = byteSymbol
        self.byteSymbolEndOfWord = byteSymbolEndOfWord
        startOfText = try id("<|startoftext|>")
        endOfText = try id("<|endoftext|>")
        count = ids.count

        var table = [UInt64: Merge]()
        var rank: Int32 = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if number == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\r" || $0 == "\t" })
            if parts.isEmpty { continue }
            guard parts.count == 2, let left = ids[String(parts[0])], let right = ids[String(parts[1])],
                  let merged = ids[String(parts[0] + parts[1])]
            else {
                throw TokenizerError(.mergesInvalid, "merges.txt line \(number + 1) is not a pair of tokens of vocab.json that joins into one: \(line.prefix(80).debugDescription)")
            }
            // A pair listed twice keeps its later rank, as a Python dict built from the list does.
            table[pairKey(Int32(left), Int32(right))] = Merge(rank: rank, merged: Int32(merged))
            rank += 1
        }
        self.merges = table
    }
}

@inline(__always)
func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
    UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
}
