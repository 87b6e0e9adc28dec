import DICOM
import Foundation

extension ScanReport {
    /// Problems of one code shown in the text summary before "… N more".
    static let textProblemLimit = 20

    /// The readable form `discport scan` prints: several patients called out
    /// first, then patient → study → series with counts, modality, dates,
    /// descriptions, sizes and transfer syntaxes; documents to convert;
    /// viewer content; the DICOMDIR; every problem with its severity and
    /// file; the totals.
    public func textSummary() -> String {
        var out: [String] = []
        var header = "Medium: \(source.path)"
        if let kind = source.kind { header += " (\(ScanReport.kindName(kind)))" }
        if let label = source.volumeLabel { header += ", volume \"\(label)\"" }
        out.append(header)
        if !complete {
            out.append("!!! The medium could not be read, or only partly: this report is incomplete (see the problems below). !!!")
        }
        if patients.count > 1 {
            out.append("")
            out.append("!!! \(patients.count) PATIENTS ON THIS MEDIUM: check each one before importing; never merge them !!!")
            for patient in patients {
                out.append("!!!   \(ScanReport.nameLine(patient))  ID \(patient.patientID ?? "(none)")\(patient.issuerOfPatientID.map { "  issuer \($0)" } ?? "")")
            }
        }

        for patient in patients {
            out.append("")
            var line = "Patient \(ScanReport.nameLine(patient))  ID \(patient.patientID ?? "(none)")"
            if let issuer = patient.issuerOfPatientID { line += "  issuer \(issuer)" }
            if let birth = patient.birthDate { line += "  born \(ScanReport.date(birth))" }
            if let sex = patient.sex { line += "  sex \(sex)" }
            line += "  (\(ScanReport.count(patient.studies.count, "study", "studies")), \(ScanReport.count(patient.instanceCount, "instance")), \(ScanReport.size(patient.size)))"
            out.append(line)
            for study in patient.studies {
                var studyLine = "  Study \(study.studyDate.map(ScanReport.date) ?? "(no date)")"
                if let time = study.studyTime { studyLine += " \(ScanReport.time(time))" }
                if let description = study.studyDescription { studyLine += "  \"\(description)\"" }
                if let accession = study.accessionNumber { studyLine += "  accession \(accession)" }
                studyLine += "  (\(ScanReport.count(study.series.count, "series", "series")), \(ScanReport.count(study.instanceCount, "instance")), \(ScanReport.size(study.size)))"
                out.append(studyLine)
                out.append("        UID \(study.studyInstanceUID ?? "(none)")")
                for series in study.series {
                    var seriesLine = "    Series \(series.seriesNumber.map(String.init) ?? "?")"
                    seriesLine += "  \(series.modality ?? "??")"
                    seriesLine += "  \(ScanReport.count(series.instanceCount, "instance"))"
                    seriesLine += "  \(ScanReport.size(series.size))"
                    seriesLine += "  \(series.transferSyntaxes.map(ScanReport.syntaxName).joined(separator: ", "))"
                    if let description = series.seriesDescription { seriesLine += "  \"\(description)\"" }
                    out.append(seriesLine)
                }
            }
        }
        if patients.isEmpty {
            out.append("")
            out.append("No readable DICOM images or documents on this medium.")
        }

        if !looseFiles.isEmpty {
            out.append("")
            out.append("Documents and pictures to convert to DICOM (\(looseFiles.count)):")
            for file in looseFiles {
                out.append("  \(file.path)  \(file.kind.uppercased())  \(ScanReport.size(file.size))")
            }
        }
        let viewer = ignored.filter { $0.reason == .viewer || $0.reason == .autorun }
        if !viewer.isEmpty {
            out.append("")
            out.append("Viewer, web pages and autorun (never imported, never run): \(ScanReport.count(viewer.count, "file"))")
        }
        if let dicomdir {
            out.append("")
            out.append(ScanReport.dicomdirLine(dicomdir))
            for other in otherDICOMDIRs { out.append(ScanReport.dicomdirLine(other)) }
        } else if totals.files > 0 {
            out.append("")
            out.append("DICOMDIR: none (the files were found by reading every file)")
        }

        out.append("")
        if problems.isEmpty {
            out.append("Problems: none")
        } else {
            let infos = problems.count - errorCount - warningCount
            out.append("Problems: \(ScanReport.count(errorCount, "error")), \(ScanReport.count(warningCount, "warning")), \(ScanReport.count(infos, "note"))")
            var shown: [ProblemCode: Int] = [:]
            for problem in problems {
                let n = shown[problem.code, default: 0] + 1
                shown[problem.code] = n
                if n == ScanReport.textProblemLimit + 1 {
                    let total = problems.filter { $0.code == problem.code }.count
                    out.append("  \(ScanReport.pad(problem.severity.rawValue, 8)) \(problem.code.rawValue): … and \(total - ScanReport.textProblemLimit) more (see --json)")
                }
                if n > ScanReport.textProblemLimit { continue }
                let place = problem.path.map { "\($0): " } ?? ""
                out.append("  \(ScanReport.pad(problem.severity.rawValue, 8)) \(problem.code.rawValue)  \(place)\(problem.message)")
            }
        }

        out.append("")
        var totalsLine = "Total: \(ScanReport.count(totals.patients, "patient")), \(ScanReport.count(totals.studies, "study", "studies")), "
        totalsLine += "\(ScanReport.count(totals.series, "series", "series")), \(ScanReport.count(totals.instances, "instance")) (\(ScanReport.size(totals.size)))"
        totalsLine += "; \(totals.damaged) damaged, \(totals.missing) missing, \(totals.loose) to convert; \(ScanReport.count(totals.files, "file")) on the medium"
        out.append(totalsLine)
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: Formatting

    static func kindName(_ kind: MediumKind) -> String {
        switch kind {
        case .folder: return "folder"
        case .iso9660: return "ISO image"
        case .zip: return "zip archive"
        case .tar: return "tar archive"
        case .device: return "disc drive"
        case .file: return "single file"
        }
    }

    /// `Yamada^Tarou = 山田^太郎 = ヤマダ^タロウ`; missing groups keep their place.
    static func nameLine(_ patient: Patient) -> String {
        guard patient.name != nil else { return "(no name)" }
        var groups = [patient.nameAlphabetic ?? "", patient.nameIdeographic ?? "", patient.namePhonetic ?? ""]
        while let last = groups.last, last.isEmpty { groups.removeLast() }
        return groups.joined(separator: " = ")
    }

    static func dicomdirLine(_ summary: DICOMDIRSummary) -> String {
        var line = "DICOMDIR \(summary.path): \(count(summary.records, "record"))"
        line += " (\(count(summary.patients, "patient")), \(count(summary.studies, "study", "studies")), \(count(summary.series, "series", "series")), \(count(summary.instances, "instance")))"
        switch summary.treeSource {
        case .offsets: line += ", offsets correct"
        case .correctedOffsets: line += ", offsets off by \(summary.offsetShift) bytes (corrected)"
        case .recordOrder: line += ", offsets unusable (tree rebuilt from the record order)"
        case .empty: line += ", no records"
        }
        if summary.inactiveRecords > 0 { line += ", \(summary.inactiveRecords) inactive" }
        if summary.missingFiles > 0 { line += ", \(summary.missingFiles) referenced file\(summary.missingFiles == 1 ? "" : "s") missing" }
        return line
    }

    static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : plural ?? singular + "s")"
    }

    static func size(_ bytes: Int) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["KB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return value < 10 ? String(format: "%.1f %@", value, units[unit]) : "\(Int(value.rounded())) \(units[unit])"
    }

    /// `20240115` → `2024-01-15`; anything else as written.
    static func date(_ da: String) -> String {
        let digits = Array(da)
        guard digits.count == 8, digits.allSatisfy(\.isNumber) else { return da }
        return "\(String(digits[0..<4]))-\(String(digits[4..<6]))-\(String(digits[6..<8]))"
    }

    /// `103000.000` → `10:30`; `1030` → `10:30`.
    static func time(_ tm: String) -> String {
        let digits = Array(tm.prefix { $0.isNumber })
        guard digits.count >= 4 else { return tm }
        return "\(String(digits[0..<2])):\(String(digits[2..<4]))"
    }

    static func syntaxName(_ uid: String) -> String {
        let name = TransferSyntax(uid: uid).name
        return name.isEmpty ? uid : name
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
