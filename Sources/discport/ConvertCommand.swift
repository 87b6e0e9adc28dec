import ArgumentParser
import Convert
import DICOM
import Foundation
import Reconcile
import Jobs
import Store

/// `discport convert FILE… (--out DIR | --import)`: loose images and PDFs into DICOM.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert JPEG, PNG, TIFF, BMP and PDF files into DICOM for one patient.",
        discussion: """
        Images become Secondary Capture (or VL Photographic Image with --as photo), \
        all of them one series of one study; a TIFF's pages become one multi-frame \
        Secondary Capture. Baseline and extended JPEGs are copied into the DICOM file \
        as they are (no re-compression; EXIF, GPS, comments and other metadata segments \
        left out, an ICC profile kept as ICC Profile); a JPEG whose EXIF orientation is not upright, progressive, \
        arithmetic and CMYK JPEGs, PNG, TIFF and BMP are decoded and written \
        uncompressed, with Lossy Image Compression 01 for JPEG sources. PDFs become \
        Encapsulated PDF (Modality DOC); --pdf-as images also renders their pages \
        (poppler) into a multi-frame Secondary Capture. Damaged and encrypted PDFs are \
        refused.

        Identity: --patient-id with --patient-name (DICOM PN, groups separated by =), \
        --birth-date, --sex; or --study UID of a study in the store, whose patient and \
        study attributes are used. With a store (--import, or --home), a known \
        --patient-id fills the name, birth date and sex not given. Text that is not \
        ASCII is written as ISO_IR 192 (UTF-8).

        Output: one line per file (JSON lines with --json or when standard output is \
        not a terminal). Exit status: 0 every file converted; 1 some file refused; 2 \
        usage error; 3 the output folder or the store cannot be used.
        """
    )

    @Argument(help: "JPEG, PNG, TIFF, BMP or PDF files.")
    var files: [String]

    @Option(help: ArgumentHelp("Write the DICOM files into this folder (created when missing).", valueName: "dir"))
    var out: String?

    @Flag(name: .customLong("import"), help: "Store the DICOM objects in the store (an import run) instead of a folder.")
    var importIntoStore = false

    @Option(name: .customLong("as"), help: ArgumentHelp("Images as sc (Secondary Capture) or photo (VL Photographic Image; an image it cannot hold: more than 8 bits, several frames, a lossy RGB JPEG, stays Secondary Capture, in a series of its own, with a note).", valueName: "sc|photo"))
    var imageIOD: String = "sc"

    @Option(name: .customLong("pdf-as"), help: ArgumentHelp("PDFs as document (Encapsulated PDF) or images (also rendered pages).", valueName: "document|images"))
    var pdfMode: String = "document"

    @Option(name: .customLong("patient-id"), help: ArgumentHelp("Patient ID.", valueName: "id"))
    var patientID: String?

    @Option(name: .customLong("patient-name"), help: ArgumentHelp("Patient's Name in DICOM PN form: Family^Given=漢字^名前=かな^なまえ.", valueName: "name"))
    var patientName: String?

    @Option(help: ArgumentHelp("Issuer of Patient ID.", valueName: "issuer"))
    var issuer: String?

    @Option(name: .customLong("birth-date"), help: ArgumentHelp("Patient's Birth Date.", valueName: "YYYYMMDD"))
    var birthDate: String?

    @Option(help: ArgumentHelp("Patient's Sex.", valueName: "M|F|O"))
    var sex: String?

    @Option(help: ArgumentHelp("Attach to this study of the store (patient and study attributes from the catalog).", valueName: "uid"))
    var study: String?

    @Option(name: .customLong("study-description"), help: ArgumentHelp("Study Description of a new study.", valueName: "text"))
    var studyDescription: String?

    @Option(name: .customLong("accession-number"), help: ArgumentHelp("Accession Number of a new study.", valueName: "number"))
    var accessionNumber: String?

    @Option(name: .customLong("series-description"), help: ArgumentHelp("Series Description.", valueName: "text"))
    var seriesDescription: String?

    @Option(help: ArgumentHelp("Document Title of PDFs (default: the PDF's title, else its file name).", valueName: "text"))
    var title: String?

    @Option(help: ArgumentHelp("Content date for every object, instead of EXIF / PDF / file dates.", valueName: "YYYYMMDD[HHMMSS]"))
    var date: String?

    @Option(help: ArgumentHelp("Resolution of rendered PDF pages.", valueName: "dpi"))
    var dpi: Int = 150

    @Flag(help: "One JSON object per line (the default when standard output is not a terminal).")
    var json = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if (out == nil) == !importIntoStore { throw ValidationError("give either --out DIR or --import") }
        guard ConvertOptions.ImageIOD(rawValue: imageIOD) != nil else { throw ValidationError("--as: expected sc or photo") }
        guard ConvertOptions.PDFMode(rawValue: pdfMode) != nil else { throw ValidationError("--pdf-as: expected document or images") }
        if study == nil && patientID == nil { throw ValidationError("give --patient-id (and --patient-name …) or --study UID") }
        if study != nil && (studyDescription != nil || accessionNumber != nil) {
            throw ValidationError("--study-description and --accession-number are for a new study, not with --study")
        }
    }

    func run() throws {
        let jsonLines = json || !Terminal.outputIsTTY
        // The store: needed for --import, used for look-ups when --home is given.
        let instanceStore: InstanceStore? = importIntoStore ? try store.open() : (store.home != nil ? try store.openExisting() : nil)

        var patient = LocalIdentity(patientID: patientID ?? "", issuerOfPatientID: issuer, patientName: patientName,
                                      birthDate: birthDate, sex: sex)
        var context = StudyContext(studyDescription: studyDescription, accessionNumber: accessionNumber)
        if let study {
            guard let instanceStore else { throw CLIError("--study needs the store: add --import or --home", status: 2) }
            let (known, studyContext) = try ConvertJob.studyContext(UID.trimmed(study), store: instanceStore)
            if let patientID, patientID != known.patientID {
                throw CLIError("study \(study) belongs to Patient ID \(known.patientID), not \(patientID)", status: 2)
            }
            patient = known
            context = studyContext
        } else if let patientID, let instanceStore, let known = try ConvertJob.knownPatient(patientID, store: instanceStore) {
            if (patient.patientName ?? "").isEmpty { patient.patientName = known.patientName }
            patient.birthDate = patient.birthDate ?? known.birthDate
            patient.sex = patient.sex ?? known.sex
            patient.issuerOfPatientID = patient.issuerOfPatientID ?? known.issuerOfPatientID
        }

        var options = ConvertOptions(patient: patient, study: context)
        options.imageIOD = ConvertOptions.ImageIOD(rawValue: imageIOD) ?? .secondaryCapture
        options.pdfMode = ConvertOptions.PDFMode(rawValue: pdfMode) ?? .document
        options.seriesDescription = seriesDescription
        options.title = title
        options.dateTime = date
        options.renderDPI = dpi

        let session: ConversionSession
        do {
            session = try ConversionSession(options: options, inputs: files)
        } catch {
            throw CLIError(error.description, status: 2)
        }
        let destination: ConvertJob.Destination
        if let instanceStore, importIntoStore {
            destination = .store(instanceStore)
        } else {
            let folder = out ?? "."
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw CLIError("cannot create the output folder \(folder): \(error.localizedDescription)", status: 3)
            }
            destination = .folder(folder)
        }

        let job = ConvertJob(session: session, destination: destination)
        let summary: ConvertSummary
        do {
            summary = try job.run(files) { event in
                if jsonLines {
                    JSONOutput.eventLine("file", event)
                } else if event.ok {
                    for output in event.outputs {
                        print("\(event.source) → \(output.path ?? output.sopInstanceUID)  (\(output.method)\(output.storeOutcome.map { ", \($0)" } ?? ""))")
                    }
                } else {
                    Terminal.error(event.error ?? "\(event.source): not converted")
                }
            }
        } catch {
            throw CLIError("the conversion stopped: \(error)", status: 3)
        }
        try instanceStore?.close()
        if jsonLines {
            JSONOutput.eventLine("finish", summary)
        } else {
            print("\(summary.converted) of \(summary.inputs) file(s) converted into \(summary.instances) DICOM object(s); "
                + "study \(summary.studyInstanceUID), Patient ID \(summary.patientID)"
                + (summary.failed > 0 ? "; \(summary.failed) refused" : ""))
        }
        if summary.exitStatus != 0 { throw ExitCode(summary.exitStatus) }
    }
}

extension JSONOutput {
    /// One line `{"event":"…", …fields of value}`.
    static func eventLine<T: Encodable>(_ event: String, _ value: T) {
        guard var data = try? data(value, pretty: false) else { return }
        data.removeFirst()
        let head = Data("{\"event\":\"\(event)\"\(data.count > 1 ? "," : "")".utf8)
        Terminal.writeOut(head + data + Data([0x0A]))
    }
}
