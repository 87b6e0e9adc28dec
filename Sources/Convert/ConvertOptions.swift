import DICOM
import Foundation
import Reconcile

extension LocalIdentity {
    /// Checks the values against their VRs (LO, PN, DA, CS) before they
    /// are written into new objects.
    public func validate() throws(ConvertError) {
        func bad(_ message: String) -> ConvertError { ConvertError(.invalidOption, message) }
        let name = patientName ?? ""
        if let problem = LocalPatientIdentifier.problem(patientID, name: "Patient ID") { throw bad(problem) }
        if let issuerOfPatientID, let problem = LocalPatientIdentifier.problem(issuerOfPatientID, name: "issuer") { throw bad(problem) }
        if let problem = DICOMText.singleValueProblem(name, vr: .PN) { throw bad("patient name '\(name)': \(problem)") }
        if name.split(separator: "=", omittingEmptySubsequences: false).count > 3 {
            throw bad("patient name '\(name)': at most three =-separated groups (alphabetic=ideographic=phonetic)")
        }
        if let birthDate, !ConvertOptions.isDate(birthDate) { throw bad("birth date '\(birthDate)': expected YYYYMMDD") }
        if let sex, !["M", "F", "O"].contains(sex) { throw bad("sex '\(sex)': expected M, F or O") }
    }
}

/// The study the converted objects go into.
public struct StudyContext: Sendable, Hashable {
    /// nil: a new study (UID generated).
    public var studyInstanceUID: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var studyID: String?
    /// Series numbers of the new series start here (one more than the
    /// study's highest when attaching to an existing study).
    public var firstSeriesNumber: Int

    public init(studyInstanceUID: String? = nil, studyDate: String? = nil, studyTime: String? = nil,
                studyDescription: String? = nil, accessionNumber: String? = nil, studyID: String? = nil,
                firstSeriesNumber: Int = 1) {
        self.studyInstanceUID = studyInstanceUID
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.studyID = studyID
        self.firstSeriesNumber = firstSeriesNumber
    }
}

/// How to convert.
public struct ConvertOptions: Sendable {
    /// The IOD for images.
    public enum ImageIOD: String, Sendable, CaseIterable {
        /// Secondary Capture (multi-frame SC for several pages).
        case secondaryCapture = "sc"
        /// VL Photographic Image (clinical photos), Modality XC.
        case photo
    }

    /// What a PDF becomes.
    public enum PDFMode: String, Sendable, CaseIterable {
        /// Encapsulated PDF only.
        case document
        /// Encapsulated PDF and its pages rendered into Secondary Capture.
        case images
    }

    public var imageIOD: ImageIOD = .secondaryCapture
    public var pdfMode: PDFMode = .document
    public var patient: LocalIdentity
    public var study: StudyContext
    public var seriesDescription: String?
    /// Document Title for PDFs; default: the PDF's /Title, else the file name.
    public var title: String?
    /// Content date (and time) for every object: `YYYYMMDD` or
    /// `YYYYMMDDHHMMSS`; overrides EXIF, PDF and file dates.
    public var dateTime: String?
    /// Resolution of rendered PDF pages.
    public var renderDPI: Int = 150

    public init(patient: LocalIdentity, study: StudyContext = StudyContext()) {
        self.patient = patient
        self.study = study
    }

    public func validate() throws(ConvertError) {
        try patient.validate()
        if let uid = study.studyInstanceUID, !UID.isValid(uid) { throw ConvertError(.invalidOption, "study UID '\(uid)' is not a valid UID") }
        if let dateTime {
            guard dateTime.count == 8 || dateTime.count == 14, dateTime.allSatisfy(\.isNumber), ConvertOptions.isDate(String(dateTime.prefix(8))) else {
                throw ConvertError(.invalidOption, "date '\(dateTime)': expected YYYYMMDD or YYYYMMDDHHMMSS")
            }
        }
        let texts: [(String, String?, VR)] = [("study description", study.studyDescription, .LO), ("accession number", study.accessionNumber, .SH),
                                              ("study ID", study.studyID, .SH), ("series description", seriesDescription, .LO)]
        for case let (label, value?, vr) in texts {
            if let problem = DICOMText.singleValueProblem(value, vr: vr) {
                throw ConvertError(.invalidOption, "\(label) '\(value)': \(problem)")
            }
        }
        if !(36...600).contains(renderDPI) { throw ConvertError(.invalidOption, "render resolution \(renderDPI) dpi: expected 36–600") }
    }

    static func isDate(_ text: String) -> Bool { DICOMText.isDate(text) }
}
