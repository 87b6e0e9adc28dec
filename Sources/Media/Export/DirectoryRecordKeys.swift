import DICOM
import Foundation

/// What a directory record of each type must carry (PS3.3 Annex F,
/// Tables F.5-1 to F.5-47) and which record type a SOP class gets.
public enum DirectoryRecordKeys {
    /// PS3.3 attribute types as they apply in directory records.
    public enum KeyType: String, Sendable, Hashable {
        /// Type 1: present with a value.
        case required = "1"
        /// Type 1C: present with a value when the instance has one.
        case conditional = "1C"
        /// Type 2: present, possibly empty.
        case present = "2"
    }

    public struct Key: Sendable, Hashable {
        public let tag: Tag
        public let keyword: String
        public let type: KeyType
        init(_ keyword: String, _ type: KeyType) {
            guard let tag = DataDictionary.tag(forKeyword: keyword) else { fatalError("unknown keyword \(keyword)") }
            self.tag = tag
            self.keyword = keyword
            self.type = type
        }
    }

    /// The leaf record type for a SOP class: the table below, else IMAGE.
    public static func recordType(sopClassUID: String, modality: String? = nil) -> String {
        if let type = recordTypeBySOPClass[sopClassUID] { return type }
        if let modality, ["RTINTENT", "RTSEGANN", "RTRAD"].contains(modality) { return "RADIOTHERAPY" }
        if modality == "PLAN" { return "PLAN" }
        return "IMAGE"
    }

    /// Keys of a record type; `extended`: the profile's extra keys
    /// (PS3.11 Table H.3-2) for DVD, BD and USB profiles.
    public static func keys(for recordType: String, extended: Bool) -> [Key] {
        var keys = baseKeys[recordType] ?? instanceCommon
        if extended, let extra = extendedKeys[recordType] { keys += extra }
        return keys
    }

    /// Issuer of Patient ID is a Patient Module attribute the record may
    /// carry (Type 3 there): with it, two patients of one ID from different
    /// issuers are told apart on the medium too.
    static let patient: [Key] = [Key("PatientName", .present), Key("PatientID", .required), Key("IssuerOfPatientID", .conditional)]
    static let study: [Key] = [
        Key("StudyDate", .required), Key("StudyTime", .required), Key("StudyDescription", .present),
        Key("StudyInstanceUID", .required), Key("StudyID", .required), Key("AccessionNumber", .present),
    ]
    static let series: [Key] = [Key("Modality", .required), Key("SeriesInstanceUID", .required), Key("SeriesNumber", .required)]
    static let instanceCommon: [Key] = [Key("InstanceNumber", .required)]
    static let contentIdentification: [Key] = [
        Key("InstanceNumber", .required), Key("ContentDate", .required), Key("ContentTime", .required),
        Key("ContentLabel", .required), Key("ContentDescription", .present), Key("ContentCreatorName", .present),
    ]

    static let baseKeys: [String: [Key]] = [
        "PATIENT": patient,
        "STUDY": study,
        "SERIES": series,
        "IMAGE": instanceCommon,
        "RT DOSE": [Key("InstanceNumber", .required), Key("DoseSummationType", .required)],
        "RT STRUCTURE SET": [Key("InstanceNumber", .required), Key("StructureSetLabel", .required),
                             Key("StructureSetDate", .present), Key("StructureSetTime", .present)],
        "RT PLAN": [Key("InstanceNumber", .required), Key("RTPlanLabel", .required), Key("RTPlanDate", .present), Key("RTPlanTime", .present)],
        "RT TREAT RECORD": [Key("InstanceNumber", .required), Key("TreatmentDate", .present), Key("TreatmentTime", .present)],
        "PRESENTATION": [
            Key("PresentationCreationDate", .required), Key("PresentationCreationTime", .required),
            Key("InstanceNumber", .required), Key("ContentLabel", .required), Key("ContentDescription", .present),
            Key("ContentCreatorName", .present), Key("ReferencedSeriesSequence", .conditional), Key("BlendingSequence", .conditional),
        ],
        "WAVEFORM": [Key("InstanceNumber", .required), Key("ContentDate", .required), Key("ContentTime", .required)],
        "RAW DATA": [Key("InstanceNumber", .required), Key("ContentDate", .required), Key("ContentTime", .required)],
        "SR DOCUMENT": [
            Key("InstanceNumber", .required), Key("CompletionFlag", .required), Key("VerificationFlag", .required),
            Key("ContentDate", .required), Key("ContentTime", .required), Key("VerificationDateTime", .conditional),
            Key("ConceptNameCodeSequence", .required),
        ],
        "KEY OBJECT DOC": [Key("InstanceNumber", .required), Key("ContentDate", .required), Key("ContentTime", .required),
                           Key("ConceptNameCodeSequence", .required)],
        "SPECTROSCOPY": [
            Key("ImageType", .required), Key("ContentDate", .required), Key("ContentTime", .required), Key("InstanceNumber", .required),
            Key("ReferencedImageEvidenceSequence", .conditional), Key("NumberOfFrames", .required), Key("Rows", .required),
            Key("Columns", .required), Key("DataPointRows", .required), Key("DataPointColumns", .required),
        ],
        "REGISTRATION": contentIdentification,
        "FIDUCIAL": contentIdentification,
        "VALUE MAP": contentIdentification,
        "MEASUREMENT": contentIdentification,
        "SURFACE": contentIdentification,
        "TRACT": contentIdentification,
        "ENCAP DOC": [
            Key("ContentDate", .present), Key("ContentTime", .present), Key("InstanceNumber", .required),
            Key("DocumentTitle", .present), Key("HL7InstanceIdentifier", .conditional), Key("ConceptNameCodeSequence", .present),
            Key("MIMETypeOfEncapsulatedDocument", .required),
        ],
        "SURFACE SCAN": [Key("ContentDate", .required), Key("ContentTime", .required)],
        "ASSESSMENT": [Key("InstanceNumber", .required), Key("InstanceCreationDate", .required), Key("InstanceCreationTime", .present)],
        "RADIOTHERAPY": [Key("InstanceNumber", .required), Key("UserContentLabel", .conditional), Key("UserContentLongLabel", .conditional),
                         Key("ContentDescription", .present), Key("ContentCreatorName", .present)],
        "STEREOMETRIC": [],
        "PLAN": [],
    ]

    /// PS3.11 Table H.3-2 (and the IMAGE keys DCMTK adds for these profiles).
    static let extendedKeys: [String: [Key]] = [
        "PATIENT": [Key("PatientBirthDate", .conditional), Key("PatientSex", .conditional)],
        "SERIES": [Key("InstitutionName", .conditional), Key("InstitutionAddress", .conditional),
                   Key("PerformingPhysicianName", .conditional)],
        "IMAGE": [
            Key("ImageType", .conditional), Key("ReferencedImageSequence", .conditional), Key("Rows", .required), Key("Columns", .required),
            Key("CalibrationImage", .conditional), Key("LossyImageCompressionRatio", .conditional),
            Key("FrameOfReferenceUID", .conditional), Key("NumberOfFrames", .conditional),
            Key("ImagePositionPatient", .conditional), Key("ImageOrientationPatient", .conditional), Key("PixelSpacing", .conditional),
        ],
    ]

    /// SOP Class UID → leaf record type (PS3.3 Table F.4-1 and F.5; every
    /// other storage SOP class is an IMAGE).
    public static let recordTypeBySOPClass: [String: String] = [
        "1.2.840.10008.5.1.4.1.1.481.2": "RT DOSE",   // RTDoseStorage
        "1.2.840.10008.5.1.4.1.1.481.3": "RT STRUCTURE SET",   // RTStructureSetStorage
        "1.2.840.10008.5.1.4.1.1.481.5": "RT PLAN",   // RTPlanStorage
        "1.2.840.10008.5.1.4.1.1.481.8": "RT PLAN",   // RTIonPlanStorage
        "1.2.840.10008.5.1.4.1.1.481.4": "RT TREAT RECORD",   // RTBeamsTreatmentRecordStorage
        "1.2.840.10008.5.1.4.1.1.481.6": "RT TREAT RECORD",   // RTBrachyTreatmentRecordStorage
        "1.2.840.10008.5.1.4.1.1.481.7": "RT TREAT RECORD",   // RTTreatmentSummaryRecordStorage
        "1.2.840.10008.5.1.4.1.1.481.9": "RT TREAT RECORD",   // RTIonBeamsTreatmentRecordStorage
        "1.2.840.10008.5.1.4.1.1.11.1": "PRESENTATION",   // GrayscaleSoftcopyPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.2": "PRESENTATION",   // ColorSoftcopyPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.3": "PRESENTATION",   // PseudoColorSoftcopyPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.4": "PRESENTATION",   // BlendingSoftcopyPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.5": "PRESENTATION",   // XAXRFGrayscaleSoftcopyPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.131": "PRESENTATION",   // BasicStructuredDisplayStorage
        "1.2.840.10008.5.1.4.1.1.11.6": "PRESENTATION",   // GrayscalePlanarMPRVolumetricPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.7": "PRESENTATION",   // CompositingPlanarMPRVolumetricPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.8": "PRESENTATION",   // AdvancedBlendingPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.9": "PRESENTATION",   // VolumeRenderingVolumetricPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.10": "PRESENTATION",   // SegmentedVolumeRenderingVolumetricPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.11": "PRESENTATION",   // MultipleVolumeRenderingVolumetricPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.11.12": "PRESENTATION",   // VariableModalityLUTSoftcopyPresentationStateStorage
        "1.2.840.10008.5.1.4.1.1.9.1.1": "WAVEFORM",   // TwelveLeadECGWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.1.2": "WAVEFORM",   // GeneralECGWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.1.3": "WAVEFORM",   // AmbulatoryECGWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.1.4": "WAVEFORM",   // General32bitECGWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.2.1": "WAVEFORM",   // HemodynamicWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.3.1": "WAVEFORM",   // CardiacElectrophysiologyWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.4.1": "WAVEFORM",   // BasicVoiceAudioWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.4.2": "WAVEFORM",   // GeneralAudioWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.5.1": "WAVEFORM",   // ArterialPulseWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.6.1": "WAVEFORM",   // RespiratoryWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.6.2": "WAVEFORM",   // MultichannelRespiratoryWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.7.1": "WAVEFORM",   // RoutineScalpElectroencephalogramWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.7.2": "WAVEFORM",   // ElectromyogramWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.7.3": "WAVEFORM",   // ElectrooculogramWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.7.4": "WAVEFORM",   // SleepElectroencephalogramWaveformStorage
        "1.2.840.10008.5.1.4.1.1.9.8.1": "WAVEFORM",   // BodyPositionWaveformStorage
        "1.2.840.10008.5.1.4.1.1.88.11": "SR DOCUMENT",   // BasicTextSRStorage
        "1.2.840.10008.5.1.4.1.1.88.22": "SR DOCUMENT",   // EnhancedSRStorage
        "1.2.840.10008.5.1.4.1.1.88.33": "SR DOCUMENT",   // ComprehensiveSRStorage
        "1.2.840.10008.5.1.4.1.1.88.50": "SR DOCUMENT",   // MammographyCADSRStorage
        "1.2.840.10008.5.1.4.1.1.88.65": "SR DOCUMENT",   // ChestCADSRStorage
        "1.2.840.10008.5.1.4.1.1.88.40": "SR DOCUMENT",   // ProcedureLogStorage
        "1.2.840.10008.5.1.4.1.1.88.67": "SR DOCUMENT",   // XRayRadiationDoseSRStorage
        "1.2.840.10008.5.1.4.1.1.78.6": "SR DOCUMENT",   // SpectaclePrescriptionReportStorage
        "1.2.840.10008.5.1.4.1.1.88.69": "SR DOCUMENT",   // ColonCADSRStorage
        "1.2.840.10008.5.1.4.1.1.79.1": "SR DOCUMENT",   // MacularGridThicknessAndVolumeReportStorage
        "1.2.840.10008.5.1.4.1.1.88.70": "SR DOCUMENT",   // ImplantationPlanSRStorage
        "1.2.840.10008.5.1.4.1.1.88.34": "SR DOCUMENT",   // Comprehensive3DSRStorage
        "1.2.840.10008.5.1.4.1.1.88.68": "SR DOCUMENT",   // RadiopharmaceuticalRadiationDoseSRStorage
        "1.2.840.10008.5.1.4.1.1.88.35": "SR DOCUMENT",   // ExtensibleSRStorage
        "1.2.840.10008.5.1.4.1.1.88.71": "SR DOCUMENT",   // AcquisitionContextSRStorage
        "1.2.840.10008.5.1.4.1.1.88.72": "SR DOCUMENT",   // SimplifiedAdultEchoSRStorage
        "1.2.840.10008.5.1.4.1.1.88.73": "SR DOCUMENT",   // PatientRadiationDoseSRStorage
        "1.2.840.10008.5.1.4.1.1.88.74": "SR DOCUMENT",   // PlannedImagingAgentAdministrationSRStorage
        "1.2.840.10008.5.1.4.1.1.88.75": "SR DOCUMENT",   // PerformedImagingAgentAdministrationSRStorage
        "1.2.840.10008.5.1.4.1.1.88.76": "SR DOCUMENT",   // EnhancedXRayRadiationDoseSRStorage
        "1.2.840.10008.5.1.4.1.1.88.77": "SR DOCUMENT",   // WaveformAnnotationSRStorage
        "1.2.840.10008.5.1.4.1.1.88.59": "KEY OBJECT DOC",   // KeyObjectSelectionDocumentStorage
        "1.2.840.10008.5.1.4.1.1.4.2": "SPECTROSCOPY",   // MRSpectroscopyStorage
        "1.2.840.10008.5.1.4.1.1.66": "RAW DATA",   // RawDataStorage
        "1.2.840.10008.5.1.4.1.1.66.1": "REGISTRATION",   // SpatialRegistrationStorage
        "1.2.840.10008.5.1.4.1.1.66.3": "REGISTRATION",   // DeformableSpatialRegistrationStorage
        "1.2.840.10008.5.1.4.1.1.66.2": "FIDUCIAL",   // SpatialFiducialsStorage
        "1.2.840.10008.5.1.4.1.1.104.1": "ENCAP DOC",   // EncapsulatedPDFStorage
        "1.2.840.10008.5.1.4.1.1.104.2": "ENCAP DOC",   // EncapsulatedCDAStorage
        "1.2.840.10008.5.1.4.1.1.104.3": "ENCAP DOC",   // EncapsulatedSTLStorage
        "1.2.840.10008.5.1.4.1.1.104.4": "ENCAP DOC",   // EncapsulatedOBJStorage
        "1.2.840.10008.5.1.4.1.1.104.5": "ENCAP DOC",   // EncapsulatedMTLStorage
        "1.2.840.10008.5.1.4.1.1.67": "VALUE MAP",   // RealWorldValueMappingStorage
        "1.2.840.10008.5.1.4.1.1.77.1.5.3": "STEREOMETRIC",   // StereometricRelationshipStorage
        "1.2.840.10008.5.1.4.1.1.78.1": "MEASUREMENT",   // LensometryMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.78.2": "MEASUREMENT",   // AutorefractionMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.78.3": "MEASUREMENT",   // KeratometryMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.78.4": "MEASUREMENT",   // SubjectiveRefractionMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.78.5": "MEASUREMENT",   // VisualAcuityMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.78.7": "MEASUREMENT",   // OphthalmicAxialMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.80.1": "MEASUREMENT",   // OphthalmicVisualFieldStaticPerimetryMeasurementsStorage
        "1.2.840.10008.5.1.4.1.1.66.5": "SURFACE",   // SurfaceSegmentationStorage
        "1.2.840.10008.5.1.4.1.1.68.1": "SURFACE SCAN",   // SurfaceScanMeshStorage
        "1.2.840.10008.5.1.4.1.1.68.2": "SURFACE SCAN",   // SurfaceScanPointCloudStorage
        "1.2.840.10008.5.1.4.1.1.66.6": "TRACT",   // TractographyResultsStorage
        "1.2.840.10008.5.1.4.1.1.90.1": "ASSESSMENT",   // ContentAssessmentResultsStorage
    ]
}
