import Foundation
@testable import Jobs
import Testing

@Suite struct ExportTemplateTests {
    /// The embedded copy is what Templates/ holds (run tools/templates/generate.py after editing).
    @Test func embeddedTemplatesMatchTheTemplatesFolder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Templates").path
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".mustache") }.sorted()
        #expect(names.sorted() == embeddedTemplates.keys.sorted())
        for name in names {
            let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
            #expect(embeddedTemplates[name]! + "\n" == text, "\(name) is stale: run tools/templates/generate.py")
        }
    }

    @Test func configSubsetOfTOML() throws {
        let values = try SimpleTOML.parse("# clinic\n[institution]\nname = \"山田クリニック\" # comment\ncontact = '03-1234'\n")
        #expect(values["institution.name"] == "山田クリニック")
        #expect(values["institution.contact"] == "03-1234")
        #expect(throws: SimpleTOML.ParseError.self) { try SimpleTOML.parse("name = \"open") }
    }

    @Test func labelPathAndFileSetID() {
        #expect(ExportJob.labelPath(for: "/x/referral.iso") == "/x/referral.label.svg")
        #expect(ExportJob.labelPath(for: "/x/out") == "/x/out.label.svg")
        #expect(ExportJob.defaultFileSetID().count <= 16)
    }
}
