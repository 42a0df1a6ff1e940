import Testing
@testable import DIMSE

@Suite struct StatusTests {
    typealias Category = DIMSEStatus.Category
    let rpiClasses = ["1.2.840.10008.5.1.4.37.1", "1.2.840.10008.5.1.4.37.2", "1.2.840.10008.5.1.4.37.3"]
    let studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"

    @Test func oneLookupPerCategory() {
        let success = DIMSEStatus.lookup(0x0000, service: .cEcho)
        #expect(success.category == .success)
        #expect(success.isDefined)
        let pending = DIMSEStatus.lookup(0xFF01, service: .cFind, sopClassUID: studyRootFind)
        #expect(pending.category == .pending)
        #expect(pending.meaning.contains("optional keys"))
        let cancel = DIMSEStatus.lookup(0xFE00, commandField: .cMoveResponse)
        #expect(cancel.category == .cancel)
        #expect(cancel.description == "0xFE00 Cancel: sub-operations terminated due to cancel indication (Query/Retrieve)")
        let warning = DIMSEStatus.lookup(0xB007, service: .cStore)
        #expect(warning.category == .warning)
        #expect(warning.meaning == "data set does not match SOP class")
        let failure = DIMSEStatus.lookup(0xA801, service: .cMove)
        #expect(failure.category == .failure)
        #expect(failure.meaning == "refused: move destination unknown")
        let ranged = DIMSEStatus.lookup(0xA7F3, service: .cStore)
        #expect(ranged.meaning == "refused: out of resources")
        #expect(ranged.isDefined)
    }

    @Test func annexQStatusesForEveryRelevantPatientSOPClass() {
        for uid in rpiClasses {
            let c100 = DIMSEStatus.lookup(0xC100, service: .cFind, sopClassUID: uid)
            #expect(c100.description == "0xC100 Failure: more than one match found (Relevant Patient Information Query)")
            let c200 = DIMSEStatus.lookup(0xC200, service: .cFind, sopClassUID: uid)
            #expect(c200.description == "0xC200 Failure: unable to support requested template (Relevant Patient Information Query)")
            #expect(DIMSEStatus.lookup(0xA700, service: .cFind, sopClassUID: uid).meaning == "refused: out of resources")
            #expect(DIMSEStatus.lookup(0xA900, service: .cFind, sopClassUID: uid).meaning == "identifier does not match SOP class")
            #expect(DIMSEStatus.lookup(0xC000, service: .cFind, sopClassUID: uid).meaning == "unable to process")
            #expect(DIMSEStatus.lookup(0xFE00, service: .cFind, sopClassUID: uid).category == .cancel)
            #expect(DIMSEStatus.lookup(0xFF00, service: .cFind, sopClassUID: uid).meaning == "current match is supplied")
            #expect(DIMSEStatus.lookup(0x0000, service: .cFind, sopClassUID: uid).meaning == "matching is complete")
            // Annex Q defines neither FF01H nor the rest of the CxxxH range.
            let ff01 = DIMSEStatus.lookup(0xFF01, service: .cFind, sopClassUID: uid)
            #expect(!ff01.isDefined)
            #expect(ff01.category == .pending)
            #expect(!DIMSEStatus.lookup(0xC001, service: .cFind, sopClassUID: uid).isDefined)
        }
        // Outside Annex Q, 0xC100 is one of the generic "unable to process" codes.
        let generic = DIMSEStatus.lookup(0xC100, service: .cFind, sopClassUID: studyRootFind)
        #expect(generic.meaning == "unable to process")
        #expect(generic.source == "Query/Retrieve")
    }

    @Test func normalizedServiceStatuses() {
        let expected: [(UInt16, Category, String)] = [
            (0x0105, .failure, "no such attribute"), (0x0106, .failure, "invalid attribute value"),
            (0x0110, .failure, "processing failure"), (0x0112, .failure, "no such SOP instance"),
            (0x0117, .failure, "invalid object instance"), (0x0118, .failure, "no such SOP class"),
            (0x0119, .failure, "class-instance conflict"), (0x0120, .failure, "missing attribute"),
            (0x0121, .failure, "missing attribute value"), (0x0122, .failure, "refused: SOP class not supported"),
            (0x0123, .failure, "no such action"), (0x0124, .failure, "refused: not authorized"),
            (0x0210, .failure, "duplicate invocation"), (0x0211, .failure, "unrecognized operation"),
            (0x0212, .failure, "mistyped argument"), (0x0213, .failure, "resource limitation"),
            (0x0001, .warning, "requested optional attributes are not supported"),
            (0x0107, .warning, "attribute list error"), (0x0116, .warning, "attribute value out of range"),
        ]
        for service in DIMSEService.allCases where service.isNormalized {
            for (code, category, meaning) in expected {
                let s = DIMSEStatus.lookup(code, service: service)
                #expect(s.category == category)
                #expect(s.meaning == meaning)
                #expect(s.isDefined)
            }
            #expect(!DIMSEStatus.lookup(0xFF00, service: service).isDefined)
            #expect(!DIMSEStatus.lookup(0xFE00, service: service).isDefined)
        }
    }

    @Test func statusNotDefinedForService() {
        let s = DIMSEStatus.lookup(0xC100, service: .nAction)
        #expect(!s.isDefined)
        #expect(s.category == .failure)
        #expect(s.description == "0xC100 Failure: not defined for N-ACTION")
        #expect(s.isDefined(for: .cFind, sopClassUID: rpiClasses[0]))
        #expect(!DIMSEStatus.lookup(0xFE00, service: .cStore).isDefined)
        #expect(!DIMSEStatus.lookup(0xFF00, service: .cEcho).isDefined)
        #expect(!DIMSEStatus.lookup(0x0000, service: .cCancel).isDefined)
        #expect(DIMSEStatus.lookup(0xBEEF, service: nil).description == "0xBEEF Warning: unrecognized status code")
    }

    /// pynetdicom 3.0.4 `code_to_category` over all 65536 codes, run-length encoded
    /// (`for c in range(0x10000): code_to_category(c)`).
    static let pynetdicomCategoryRuns: [(UInt16, UInt16, Category)] = [
        (0x0000, 0x0000, .success), (0x0001, 0x0001, .warning), (0x0002, 0x0104, .unknown),
        (0x0105, 0x0106, .failure), (0x0107, 0x0107, .warning), (0x0108, 0x010F, .unknown),
        (0x0110, 0x0115, .failure), (0x0116, 0x0116, .warning), (0x0117, 0x0119, .failure),
        (0x011A, 0x011F, .unknown), (0x0120, 0x0124, .failure), (0x0125, 0x020F, .unknown),
        (0x0210, 0x0213, .failure), (0x0214, 0x9FFF, .unknown), (0xA000, 0xAFFF, .failure),
        (0xB000, 0xBFFF, .warning), (0xC000, 0xCFFF, .failure), (0xD000, 0xFDFF, .unknown),
        (0xFE00, 0xFE00, .cancel), (0xFE01, 0xFEFF, .unknown), (0xFF00, 0xFF01, .pending),
        (0xFF02, 0xFFFF, .unknown),
    ]

    @Test func unknownCodesAreClassifiedLikePynetdicom() {
        var mismatches = 0
        for (first, last, category) in Self.pynetdicomCategoryRuns {
            for code in first...last where DIMSEStatus.category(of: code) != category { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(DIMSEStatus.lookup(0xD000, service: .cFind).category == .unknown)
        #expect(DIMSEStatus.lookup(0xA123, service: .cEcho).category == .failure)
        #expect(DIMSEStatus.lookup(0xB123, service: .cEcho).category == .warning)
    }

    /// pynetdicom 3.0.4 `status.py` service-class tables, run-length encoded over all codes
    /// (`t.get(c)` for `c in range(0x10000)`; gaps are undefined codes).
    static let pynetdicomTables: [(String, DIMSEService, String?, [(UInt16, UInt16, Category)])] = {
        let annexC: [(UInt16, UInt16, Category)] = [
            (0x0000, 0x0000, .success), (0x0105, 0x0106, .failure), (0x0107, 0x0107, .warning),
            (0x0110, 0x0115, .failure), (0x0116, 0x0116, .warning), (0x0117, 0x0119, .failure),
            (0x0120, 0x0124, .failure), (0x0210, 0x0213, .failure),
        ]
        return [
            ("VERIFICATION", .cEcho, nil, annexC + [(0xFE00, 0xFE00, .cancel)]),
            ("STORAGE", .cStore, nil, annexC + [
                (0xA700, 0xA7FF, .failure), (0xA900, 0xA9FF, .failure), (0xB000, 0xB000, .warning),
                (0xB006, 0xB007, .warning), (0xC000, 0xCFFF, .failure), (0xFE00, 0xFE00, .cancel),
            ]),
            ("QR_FIND", .cFind, "1.2.840.10008.5.1.4.1.2.2.1", annexC + [
                (0xA700, 0xA700, .failure), (0xA710, 0xA710, .failure), (0xA900, 0xA900, .failure),
                (0xB001, 0xB001, .warning), (0xC000, 0xCFFF, .failure), (0xFE00, 0xFE00, .cancel),
                (0xFF00, 0xFF01, .pending),
            ]),
            ("QR_MOVE", .cMove, nil, annexC + [
                (0xA701, 0xA702, .failure), (0xA801, 0xA801, .failure), (0xA900, 0xA900, .failure),
                (0xAA00, 0xAA04, .failure), (0xB000, 0xB000, .warning), (0xC000, 0xCFFF, .failure),
                (0xFE00, 0xFE00, .cancel), (0xFF00, 0xFF00, .pending),
            ]),
            ("QR_GET", .cGet, nil, annexC + [
                (0xA701, 0xA702, .failure), (0xA900, 0xA900, .failure), (0xAA00, 0xAA04, .failure),
                (0xB000, 0xB000, .warning), (0xC000, 0xCFFF, .failure), (0xFE00, 0xFE00, .cancel),
                (0xFF00, 0xFF00, .pending),
            ]),
            ("MODALITY_WORKLIST", .cFind, "1.2.840.10008.5.1.4.31", annexC + [
                (0xA700, 0xA700, .failure), (0xA900, 0xA900, .failure), (0xC000, 0xCFFF, .failure),
                (0xFE00, 0xFE00, .cancel), (0xFF00, 0xFF01, .pending),
            ]),
            ("RELEVANT_PATIENT", .cFind, "1.2.840.10008.5.1.4.37.1", annexC + [
                (0xA700, 0xA700, .failure), (0xA900, 0xA900, .failure), (0xC000, 0xC000, .failure),
                (0xC100, 0xC100, .failure), (0xC200, 0xC200, .failure), (0xFE00, 0xFE00, .cancel),
                (0xFF00, 0xFF00, .pending),
            ]),
        ]
    }()

    @Test func serviceTablesMatchPynetdicom() {
        for (name, service, sopClass, runs) in Self.pynetdicomTables {
            var expected: [UInt16: Category] = [:]
            for (first, last, category) in runs {
                for code in first...last { expected[code] = category }
            }
            // Deliberate difference: Cancel is only defined for services that can be cancelled.
            if service == .cEcho || service == .cStore { expected[0xFE00] = nil }
            var mismatches: [String] = []
            for code in UInt16.min...UInt16.max {
                let status = DIMSEStatus.lookup(code, service: service, sopClassUID: sopClass)
                let ours: Category? = status.isDefined ? status.category : nil
                if ours != expected[code] { mismatches.append("0x" + String(code, radix: 16)) }
            }
            #expect(mismatches.isEmpty, "\(name): \(mismatches.prefix(10))")
        }
    }
}
