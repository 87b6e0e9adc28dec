import Foundation
@testable import Reconcile
import Testing

/// The CSV reader's rules, pinned case by case and against a plain
/// scalar-by-scalar reference (the reader as it was before it went over
/// UTF-8 bytes) on generated text.
@Suite("Registry CSV")
struct RegistryCSVTests {
    /// Records as (fields, line) pairs, for comparisons.
    private static func records(_ text: String) -> [[String]] {
        CSVRecords.parse(text).map(\.fields)
    }

    private static func lines(_ text: String) -> [Int] {
        CSVRecords.parse(text).map(\.line)
    }

    @Test("records: fields split at commas, LF, CRLF or CR line ends, a last record without a line end")
    func plainRecords() {
        #expect(Self.records("a,b\n1,2\n") == [["a", "b"], ["1", "2"]])
        #expect(Self.records("a,b\r\n1,2\r\n") == [["a", "b"], ["1", "2"]])
        #expect(Self.records("a,b\n1,2") == [["a", "b"], ["1", "2"]])
        #expect(Self.records("a,b\r\n1,2") == [["a", "b"], ["1", "2"]])
        #expect(Self.records("a,,c,\n") == [["a", "", "c", ""]])
        #expect(Self.records("") == [])
        #expect(Self.records("\n") == [[""]])
        #expect(Self.lines("a\n\n\nb\n") == [1, 2, 3, 4])
        #expect(Self.records("a\n\n\nb\n") == [["a"], [""], [""], ["b"]])
        // A last line holding nothing (or an empty quoted field) is no
        // record; one holding a comma is.
        #expect(Self.records("a\n\r\n") == [["a"], [""]])
        #expect(Self.records("a\n\"\"") == [["a"]])
        #expect(Self.records("a\n,") == [["a"], ["", ""]])
        // A CR alone ends a record too (old Mac spreadsheets' CSV), and
        // counts as a line; CRLF counts once, a CR before it as its part.
        #expect(Self.records("a\rb,c\r") == [["a"], ["b", "c"]])
        #expect(Self.records("a\rb\r") == [["a"], ["b"]])
        #expect(Self.lines("a\rb\r\nc\r\rd") == [1, 2, 3, 4, 5])
        #expect(Self.records("a\r\r\nb") == [["a"], [""], ["b"]])
        #expect(Self.records("山田,太郎\n") == [["山田", "太郎"]])
    }

    @Test("quoted fields: commas, doubled quotes, line breaks (counted), CRs kept; quotes open a field only at its start")
    func quotedFields() {
        #expect(Self.records("\"a,b\",c\n") == [["a,b", "c"]])
        #expect(Self.records("\"say \"\"hi\"\"\",x\n") == [["say \"hi\"", "x"]])
        #expect(Self.records("\"\"\"\"\n") == [["\""]])
        #expect(Self.records("\"\"\n") == [[""]])
        #expect(Self.records("\"\",\"\"\n") == [["", ""]])
        #expect(Self.records("\"\"\"x\"\n") == [["\"x"]])
        #expect(Self.records("\"佐藤,一郎\",\"山\"\"田\"\n") == [["佐藤,一郎", "山\"田"]])
        // Line breaks inside quotes are kept, and counted: the next record
        // starts on the line after them.
        let text = "h1,h2\n\"l1\nl2\n\",x\nnext,y\n\"a\r\nb\"\r\nlast,z"
        #expect(Self.records(text) == [["h1", "h2"], ["l1\nl2\n", "x"], ["next", "y"], ["a\r\nb"], ["last", "z"]])
        #expect(Self.lines(text) == [1, 2, 5, 6, 8])
        // A quote after the start of a field is kept as it is.
        #expect(Self.records("ab\"c\"d,e\n") == [["ab\"c\"d", "e"]])
        #expect(Self.records(" \"x\",y\n") == [[" \"x\"", "y"]])
        #expect(Self.records("a\"\"b\n") == [["a\"\"b"]])
        // Text after a closing quote joins the field, quotes in it literal.
        #expect(Self.records("\"ab\"cd,e\n") == [["abcd", "e"]])
        #expect(Self.records("\"ab\" ,\n") == [["ab ", ""]])
        #expect(Self.records("\"ab\"c\"d\"\n") == [["abc\"d\""]])
        // A record may start with quotes after a CR alone.
        #expect(Self.records("\r\"x,y\"\n") == [[""], ["x,y"]])
        // A CR alone inside quotes is kept and counted as a line.
        #expect(Self.records("\"a\rb\",c\rd\n") == [["a\rb", "c"], ["d"]])
        #expect(Self.lines("\"a\rb\",c\rd\n") == [1, 3])
        // An unterminated quote runs to the end of the text.
        #expect(Self.records("\"abc\ndef") == [["abc\ndef"]])
        #expect(Self.lines("x\n\"abc\ndef,g\n") == [1, 2])
        #expect(Self.records("a,\"") == [["a", ""]])
        #expect(Self.records("\"") == [])
    }

    @Test("records match the scalar-by-scalar reference on generated text")
    func recordsMatchReference() {
        let alphabet: [String] = ["a", "b", ",", ",", "\"", "\"", "\"\"", "\r", "\n", "\n", "\r\n", " ", "\t", "山", "\u{3000}", "é", "e\u{301}", "😀"]
        var generator = SeededGenerator(seed: 0x5EED)
        for _ in 0..<3000 {
            let length = Int.random(in: 0...24, using: &generator)
            let text = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined()
            let expected = ReferenceCSV.parse(text)
            let actual = CSVRecords.parse(text)
            #expect(actual.map(\.fields) == expected.map(\.fields), "\(text.debugDescription)")
            #expect(actual.map(\.line) == expected.map(\.line), "\(text.debugDescription)")
        }
    }

    @Test("rows: header names lower-cased and trimmed, cells trimmed, empty cells and blank rows dropped, line numbers")
    func rows() throws {
        let text = " Path ,PATIENT_ID,\tName\u{3000},dup,dup\n"
            + "a.pdf, P1 ,\u{3000}山田^太郎\u{3000},,second\n"
            + "\n"
            + " , ,\t,\u{3000},\n"
            + ",,,\n"
            + "\"b,c.pdf\",\"  P2\t\",\"multi\nline\",first,second\n"
            + "d.pdf,P3,,,,extra,cells\n"
            + "e.pdf\n"
            + "\u{A0}f.pdf\u{2003},\u{200B}P4\u{202F}"
        let (rows, lines) = try RegistryCSV.table(Data(text.utf8), required: ["path", "patient_id"])
        #expect(rows == [
            ["path": "a.pdf", "patient_id": "P1", "name": "山田^太郎", "dup": "second"],
            ["path": "b,c.pdf", "patient_id": "P2", "name": "multi\nline", "dup": "first"],
            ["path": "d.pdf", "patient_id": "P3"],
            ["path": "e.pdf"],
            ["path": "f.pdf", "patient_id": "P4"],
        ])
        #expect(lines == [2, 6, 8, 9, 10])
        // Whitespace inside a cell stays; a combining mark after a trimmed
        // space stays (trimming goes by Unicode scalars, as Foundation's).
        let (inner, _) = try RegistryCSV.table(Data("a,b\n x  y ,\" \u{301}z \"\n".utf8), required: ["a"])
        #expect(inner == [["a": "x  y", "b": "\u{301}z"]])
    }

    @Test("rows: UTF-8 with or without BOM, Shift_JIS detected or given; encodings that do not decode refused")
    func encodings() throws {
        let text = "path,patient_id,name\r\nｶﾅ/一.pdf,P1,山田^太郎\r\n\"二,三.pdf\",P2,\"佐藤\r\n一郎\"\r\n"
        let expected: [[String: String]] = [["path": "ｶﾅ/一.pdf", "patient_id": "P1", "name": "山田^太郎"],
                                            ["path": "二,三.pdf", "patient_id": "P2", "name": "佐藤\r\n一郎"]]
        let sjis = try #require(text.data(using: .shiftJIS))
        #expect(sjis.count < Data(text.utf8).count)   // really two bytes a kanji
        for (data, encoding) in [(Data(text.utf8), RegistryCSV.Encoding.automatic), (Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8), .automatic),
                                 (Data(text.utf8), .utf8), (Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8), .utf8),
                                 (sjis, .automatic), (sjis, .shiftJIS)] {
            let (rows, lines) = try RegistryCSV.table(data, encoding: encoding, required: ["path"])
            #expect(rows == expected, "\(encoding)")
            #expect(lines == [2, 3], "\(encoding)")
        }
        #expect(try RegistryCSV.decodeText(sjis, .automatic).1 == .shiftJIS)
        #expect(try RegistryCSV.decodeText(Data(text.utf8), .automatic).1 == .utf8)
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(sjis, encoding: .utf8, required: ["path"]) }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data([0x70, 0x0A, 0xFF, 0xFF, 0x0A]), required: ["p"]) }
    }

    @Test("rows: a header lacking a required column and an empty (or blank) file are refused; blank lines before the header are passed over")
    func headerErrors() throws {
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data("a,b\n1,2\n".utf8), required: ["c"]) }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data(), required: ["c"]) }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data("\r".utf8), required: []) }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data("\n \n,\n".utf8), required: ["path"]) }
        let table = try RegistryCSV.table(Data("\n , \r\npath\nx\n".utf8), required: ["path"])
        #expect(table.rows == [["path": "x"]])
        #expect(table.lines == [4])
        #expect((try? RegistryCSV.table(Data("path\n".utf8), required: ["path"]))?.rows == [])
    }

    @Test("rows: quotes still open at the end of the file refuse it, naming the line they opened on")
    func unclosedQuote() throws {
        // Without the check the rows after the stray quote would vanish
        // into one cell of line 3.
        let text = "path,patient_id\na.pdf,P1\n\"b.pdf,P2\nc.pdf,P3\nd.pdf,P4\n"
        do {
            _ = try RegistryCSV.table(Data(text.utf8), required: ["path", "patient_id"])
            Issue.record("read")
        } catch {
            #expect(error.message == "a quoted cell opens on line 3 and is never closed: the rest of the file would be one cell, so the file is refused (a stray or missing \")")
        }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data("path\nx,\"".utf8), required: ["path"]) }
        #expect(throws: RegistryCSV.FileError.self) { _ = try RegistryCSV.table(Data("\"path\n".utf8), required: ["path"]) }
        // Closed at the very end, or doubled quotes inside: read as before.
        #expect(try RegistryCSV.table(Data("path\n\"x\"\"y\"".utf8), required: ["path"]).rows == [["path": "x\"y"]])
    }

    @Test("rows match the reference (parser, Foundation trimming, dictionary) on generated files")
    func rowsMatchReference() throws {
        let header = ["a,b,c\n", " A ,b,a\n", "a\n", "b,a,b,\"c\"\r\n"]
        let alphabet: [String] = ["x", "y", ",", ",", "\"", "\r", "\n", "\n", " ", " ", "\t", "山", "\u{3000}", "\u{A0}", "\u{301}", "\u{200B}"]
        var generator = SeededGenerator(seed: 0xC5F)
        for _ in 0..<2000 {
            let length = Int.random(in: 0...30, using: &generator)
            let text = header.randomElement(using: &generator)! + (0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined()
            if let line = ReferenceCSV.read(text).unclosedQuote {
                // Refused whole, naming the line the quotes opened on.
                do {
                    _ = try RegistryCSV.table(Data(text.utf8), required: ["a"])
                    Issue.record("read: \(text.debugDescription)")
                } catch {
                    #expect(error.message.contains("opens on line \(line) "), "\(text.debugDescription)")
                }
                continue
            }
            let expected = ReferenceCSV.rows(text)
            let actual = try RegistryCSV.table(Data(text.utf8), required: ["a"])
            #expect(actual.rows == expected.rows, "\(text.debugDescription)")
            #expect(actual.lines == expected.lines, "\(text.debugDescription)")
        }
    }

    @Test("trimmingWhitespace is Foundation's trimming by .whitespaces")
    func trimming() {
        var samples = ["", " ", "a", " a ", "\ta\t", "\u{3000}", "\u{3000}山\u{3000}", "a b", " \u{301}x", "x \u{301}",
                       "\u{3000}\u{301}", "\u{85}a\u{85}", "\u{200B}a\u{200B}", "\u{FEFF}a", "\r a \n", "e\u{301} "]
        for value in Array(0...0x3100) + [0xFEFF, 0xFF00, 0xFFA0, 0x1F600, 0xE0020, 0x10FFFF] {
            guard let scalar = Unicode.Scalar(value) else { continue }
            samples.append("\(scalar)a\(scalar)")
            samples.append("a\(scalar)")
        }
        for sample in samples {
            #expect(RegistryCSV.trimmingWhitespace(sample) == sample.trimmingCharacters(in: .whitespaces), "\(sample.debugDescription)")
        }
    }
}

/// The CSV reader as it was: scalar by scalar into `String` fields.
enum ReferenceCSV {
    static func parse(_ text: String) -> [(fields: [String], line: Int)] { read(text).records }

    /// The records, and the line of quotes the text ends inside.
    static func read(_ text: String) -> (records: [(fields: [String], line: Int)], unclosedQuote: Int?) {
        var records: [(fields: [String], line: Int)] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var quoteLine = 1
        var line = 1
        var recordLine = 1
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? scalars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let following = scalars.next() {
                        if following == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = following }
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    if c == "\r" {
                        pending = scalars.next()
                        if pending != "\n" { line += 1 }   // a CR alone is a line end; CRLF counts once
                    }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty:
                quoted = true
                quoteLine = line
            case ",":
                fields.append(field)
                field = ""
            case "\r", "\n":
                if c == "\r" {
                    pending = scalars.next()
                    if pending == "\n" { break }   // CRLF: the LF ends the record
                }
                fields.append(field)
                records.append((fields, recordLine))
                fields = []
                field = ""
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(c)
            }
        }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            records.append((fields, recordLine))
        }
        return (records, quoted ? quoteLine : nil)
    }

    /// Rows of a file whose first record names the columns.
    static func rows(_ text: String) -> (rows: [[String: String]], lines: [Int]) {
        let records = parse(text)
        guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) else { return ([], []) }
        var rows: [[String: String]] = []
        var lines: [Int] = []
        for record in records.dropFirst() {
            var row: [String: String] = [:]
            for (index, name) in header.enumerated() where index < record.fields.count && row[name] == nil {
                let value = record.fields[index].trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { row[name] = value }
            }
            if !row.isEmpty {
                rows.append(row)
                lines.append(record.line)
            }
        }
        return (rows, lines)
    }
}

/// A deterministic generator (SplitMix64), so that a failure comes back.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Local patient identifiers")
struct LocalPatientIdentifierTests {
    @Test("a Patient ID or issuer LO cannot hold is refused, saying why: backslash, control characters, over 64 characters, empty, padding spaces")
    func refused() throws {
        #expect(LocalPatientIdentifier.problem("L1", name: "--patient-id") == nil)
        #expect(LocalPatientIdentifier.problem("山田-0001 A", name: "--patient-id") == nil)
        #expect(LocalPatientIdentifier.problem(String(repeating: "9", count: 64), name: "x") == nil)
        #expect(LocalPatientIdentifier.problem("A\\B", name: "--patient-id")?.contains("backslash") == true)
        #expect(LocalPatientIdentifier.problem("A\tB", name: "--issuer")?.contains("control character") == true)
        #expect(LocalPatientIdentifier.problem("A\u{1B}B", name: "--issuer")?.contains("control character") == true)
        #expect(LocalPatientIdentifier.problem(String(repeating: "9", count: 65), name: "x")?.contains("at most 64") == true)
        #expect(LocalPatientIdentifier.problem("", name: "x") != nil)
        #expect(LocalPatientIdentifier.problem(" L1", name: "x") != nil)
        // The registry and mapping files use the same check, for the issuer too.
        #expect(RegisteredPatient(patientID: "L1", issuer: "C\\D").problems.contains { $0.contains("backslash") })
        #expect(throws: RegistryCSV.FileError.self) {
            _ = try IdentityMapping.parseCSV(Data("foreign_id,local_id\nF1,A\\B\n".utf8))
        }
    }
}
