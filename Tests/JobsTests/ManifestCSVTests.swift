import Foundation
import Jobs
import Reconcile
import Testing

/// A CSV manifest read into rows: the CSV rules as a migration sees them,
/// and the dates it takes.
@Suite("Manifest CSV")
struct ManifestCSVTests {
    @Test("normalizedDate: YYYYMMDD, or YYYY-MM-DD with - / or . ; a real day from 1850 on")
    func normalizedDates() {
        for (text, date) in [("20190101", "20190101"), ("2019-01-31", "20190131"), ("2019/02/28", "20190228"),
                             ("2019.12.31", "20191231"), ("20000229", "20000229"), ("2000-02-29", "20000229"),
                             ("18500101", "18500101"), ("99991231", "99991231")] {
            #expect(MigrationManifest.normalizedDate(text) == date, "\(text)")
        }
        for text in ["", "2019", "2019-1-1", "201901011", "2019-01-01-", "2019-01/01", "2019_01_01", "2019 01 01", "2019:01:01",
                     "-20190101", "2019--0101x", "20190230", "19000229", "20190001", "20191301", "20190100", "18491231",
                     " 20190101", "20190101\n", "2019–01–01", "2019－01－01", "２０１９０１０１", "٢٠١٩٠١٠١", "2019〇101",
                     "2019-01-01\u{301}", "2\u{301}0190101", "20190101\u{FEFF}", "½0190101", "2019-01-0①", "0x190101",
                     "+20190101", "2019.01-01", "2019-0101-", "--20190101", "201.901.01", "2019-0101", "201901-01",
                     "20190-1-01", "2019-01-0-1"] {
            #expect(MigrationManifest.normalizedDate(text) == nil, "\(text.debugDescription)")
        }
    }

    @Test("normalizedDate matches the Character-based rule on generated text")
    func normalizedDatesMatchReference() {
        func reference(_ text: String) -> String? {
            let characters = Array(text)
            let isDigit = { (c: Character) in c.isASCII && c.isNumber }
            let digits: String
            if characters.count == 8 && characters.allSatisfy(isDigit) {
                digits = text
            } else if characters.count == 10, characters[4] == characters[7], "-/.".contains(characters[4]),
                      characters.indices.allSatisfy({ $0 == 4 || $0 == 7 || isDigit(characters[$0]) }) {
                digits = String(characters.filter(isDigit))
            } else {
                return nil
            }
            return RegistryCSV.isDate(digits) ? digits : nil
        }
        let pieces = ["2019", "2000", "1849", "0101", "0229", "1231", "1", "2", "9", "0", "-", "/", ".", "-", " ", "x", "２", "٣", "\u{301}", "①"]
        var seed: UInt64 = 0xDA7E
        for _ in 0..<5000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            var state = seed
            let count = Int(state >> 60) % 7
            var text = ""
            for _ in 0..<count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += pieces[Int(state >> 33) % pieces.count]
            }
            #expect(MigrationManifest.normalizedDate(text) == reference(text), "\(text.debugDescription)")
        }
    }

    @Test("a CSV manifest: quoted cells with commas and line breaks, CRLF, BOM, padded cells, dates normalized, line numbers")
    func csvManifest() throws {
        let scratch = Scratch()
        let manifest = scratch.path + "/m.csv"
        let text = "Path,Patient_ID,patient_name,birth_date,sex,study_date,study_key,study_description,modality,series_key,notes\r\n"
            + "\"a,1.jpg\",\u{3000}P1\u{3000},\"山田^太郎\",1970/04/01, f ,2020.01.02,K1,\"two, words\",ot,S1,\"say \"\"x\"\"\r\nlines\"\r\n"
            + "\r\n"
            + " , , \r\n"
            + "b.jpg,P2,,19701301,,,,,,,\r\n"
            + "c.jpg,,,,,,,,,,\r\n"
            + ",,,,,,,,,,note only\r\n"
            + "/abs/d.pdf,P3,,,,,,,,"
        try (Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)).write(to: URL(fileURLWithPath: manifest))
        let (rows, problems) = try MigrationManifest.read(manifest, root: "/data")
        #expect(rows.count == 2)
        let first = try #require(rows.first)
        #expect(first == MigrationRow(line: 2, path: "a,1.jpg", absolutePath: "/data/a,1.jpg", patientID: "P1", patientName: "山田^太郎",
                                      birthDate: "19700401", sex: "F", studyDate: "20200102", studyKey: "K1",
                                      studyDescription: "two, words", modality: "OT", seriesKey: "S1"))
        #expect(rows.last == MigrationRow(line: 9, path: "/abs/d.pdf", absolutePath: "/abs/d.pdf", patientID: "P3"))
        #expect(problems.map(\.line) == [6, 7, 8])
        #expect(problems.map(\.path) == ["b.jpg", "c.jpg", nil])
        #expect(problems[0].message == "birth_date \"19701301\" is not a date (YYYYMMDD or YYYY-MM-DD)")
        #expect(problems[1].message == "patient_id is empty")
        #expect(problems[2].message == "path is empty")
    }

    @Test("text a row writes into the objects is one value of its VR: no backslash (¥ in Shift_JIS), no line break, not too long")
    func textColumnsAreSingleValues() throws {
        let scratch = Scratch()
        let manifest = scratch.path + "/m.csv"
        let text = "path,patient_id,patient_name,study_description,modality\n"
            + "a.jpg,P1,Yamada^Taro,Chest\\PA,OT\n"
            + "b.jpg,P1,Yamada^Taro,\"two\nlines\",OT\n"
            + "c.jpg,P1,A\\B,,OT\n"
            + "d.jpg,P1,,\(String(repeating: "x", count: 65)),OT\n"
            + "e.jpg,P1,,,ULTRASOUND-LONGER\n"
            + "f.jpg,P1,山田^太郎=やまだ^たろう,胸部 CT,CR\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: manifest))
        let (rows, problems) = try MigrationManifest.read(manifest, root: "/data")
        #expect(rows.map(\.path) == ["f.jpg"])
        #expect(problems.map(\.line) == [2, 3, 5, 6, 7], "b's quoted cell takes two lines")
        #expect(problems[0].message.hasPrefix("study_description \"Chest\\PA\": a backslash separates values"))
        #expect(problems[0].message.hasSuffix("(in a Shift_JIS manifest, the byte 5C that shows as ¥)"))
        #expect(problems[1].message.contains("control character U+000A"))
        #expect(problems[2].message.hasPrefix("patient_name \"A\\B\""))
        #expect(problems[3].message.contains("at most 64 characters in LO"))
        #expect(problems[4].message.contains("at most 16 characters in CS"))
    }

    @Test("a manifest with CR line ends (an old Mac spreadsheet's CSV) reads like its LF twin")
    func crLineEnds() throws {
        let scratch = Scratch()
        let text = "path,patient_id,study_description,notes\na.jpg,P1,two words,\"two\nlines\"\nb.pdf,P2,,\nc.jpg,,,\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: scratch.path + "/lf.csv"))
        try Data(text.replacingOccurrences(of: "\n", with: "\r").utf8).write(to: URL(fileURLWithPath: scratch.path + "/cr.csv"))
        let lf = try MigrationManifest.read(scratch.path + "/lf.csv", root: "/r")
        let cr = try MigrationManifest.read(scratch.path + "/cr.csv", root: "/r")
        #expect(lf.rows.map(\.path) == ["a.jpg", "b.pdf"])
        #expect(cr.rows.map(\.path) == lf.rows.map(\.path))
        #expect(cr.rows.map(\.line) == [2, 4] && lf.rows.map(\.line) == [2, 4])
        #expect(cr.rows.first?.studyDescription == "two words")
        #expect(cr.problems.map(\.line) == [5] && lf.problems.map(\.line) == [5])
    }

    @Test("a Shift_JIS manifest is read like its UTF-8 twin")
    func shiftJISManifest() throws {
        let scratch = Scratch()
        let text = "path,patient_id,patient_name,study_description\n写真/一.jpg,患者1,山田^太郎,\"胸部, 正面\"\nｶﾅ.pdf,患者2,ﾔﾏﾀﾞ^ﾀﾛｳ,\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: scratch.path + "/u.csv"))
        try #require(text.data(using: .shiftJIS)).write(to: URL(fileURLWithPath: scratch.path + "/s.csv"))
        let utf8 = try MigrationManifest.read(scratch.path + "/u.csv", root: "/r")
        let sjis = try MigrationManifest.read(scratch.path + "/s.csv", root: "/r")
        let given = try MigrationManifest.read(scratch.path + "/s.csv", root: "/r", encoding: .shiftJIS)
        #expect(utf8.rows.map(\.path) == ["写真/一.jpg", "ｶﾅ.pdf"])
        #expect(utf8.rows.map(\.studyDescription) == ["胸部, 正面", nil])
        #expect(utf8.rows.map(\.patientName) == ["山田^太郎", "ﾔﾏﾀﾞ^ﾀﾛｳ"])
        #expect(sjis.rows == utf8.rows && given.rows == utf8.rows)
        #expect(sjis.problems.isEmpty && utf8.problems.isEmpty)
        #expect(throws: DecisionError.self) { _ = try MigrationManifest.read(scratch.path + "/s.csv", root: "/r", encoding: .utf8) }
    }

    @Test("a manifest whose header lacks path or patient_id, or with a quote never closed, is refused; JSON Lines rows are trimmed alike")
    func headerAndJSON() throws {
        let scratch = Scratch()
        try Data("path,patient\nx.pdf,P1\n".utf8).write(to: URL(fileURLWithPath: scratch.path + "/m.csv"))
        #expect(throws: DecisionError.self) { _ = try MigrationManifest.read(scratch.path + "/m.csv") }
        // A stray quote would swallow every later row: the manifest is refused.
        try Data("path,patient_id\nx.pdf,P1\n\"y.pdf,P2\nz.pdf,P3\n".utf8).write(to: URL(fileURLWithPath: scratch.path + "/m.csv"))
        do {
            _ = try MigrationManifest.read(scratch.path + "/m.csv")
            Issue.record("read")
        } catch {
            #expect("\(error)".contains("the manifest: a quoted cell opens on line 3 and is never closed"), "\(error)")
        }
        try Data("PATH , patient_id\nx.pdf,P1\n".utf8).write(to: URL(fileURLWithPath: scratch.path + "/m.csv"))
        #expect(try MigrationManifest.read(scratch.path + "/m.csv", root: "/r").rows.map(\.patientID) == ["P1"])
        try Data("{\"path\":\" x.pdf\u{3000}\",\"patient_id\":\"P1 \",\"sex\":\" m\",\"birth_date\":\"2001-02-03\",\"study_date\":\"  \"}\n".utf8)
            .write(to: URL(fileURLWithPath: scratch.path + "/m.jsonl"))
        let (rows, problems) = try MigrationManifest.read(scratch.path + "/m.jsonl", root: "/r")
        #expect(problems.isEmpty)
        #expect(rows == [MigrationRow(line: 1, path: "x.pdf", absolutePath: "/r/x.pdf", patientID: "P1", birthDate: "20010203", sex: "M")])
    }
}
