import ArgumentParser
import ClipCommandLine
import ClipText
import Foundation

/// `clipq tokenize`: the token ids the text encoder would see, one JSON array a line.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the CLIP token ids of texts, one JSON array per text.",
        discussion: """
            Each line is [<|startoftext|>, ..., <|endoftext|>], cut to the context length of 77 \
            and not padded. Texts are the arguments or, when there are none, the lines of \
            standard input.
            """)

    @Option(help: "A Hugging Face model directory holding vocab.json and merges.txt. Env CLIPQ_MODEL.")
    var model: String = env("CLIPQ_MODEL") ?? defaultModelDirectory

    @Flag(help: "Each line of standard input is a JSON string, so that texts can hold line breaks.")
    var json = false

    @Argument(help: "Texts to tokenize (default: the lines of standard input).")
    var texts: [String] = []

    func run() throws {
        let tokenizer = try CLIPTokenizer(modelDirectory: URL(fileURLWithPath: model))
        func emit(_ text: String) {
            print("[" + tokenizer.encode(text).map(String.init).joined(separator: ",") + "]")
        }
        if !texts.isEmpty {
            texts.forEach(emit)
            return
        }
        var number = 0
        while let line = readLine(strippingNewline: true) {
            number += 1
            guard json else {
                emit(line)
                continue
            }
            guard let text = try? JSONDecoder().decode(String.self, from: Data(line.utf8)) else {
                throw CommandError(.invalidInput, "stdin line \(number) is not a JSON string")
            }
            emit(text)
        }
    }
}
