"""Shared by seed_rpi_scp.py: reads the store's JSON import format (docs/STORE.md) and builds Annex Q response
identifiers with the same template structure as DICOMStore (TID 9007 / 9000 / 3802, simplified where noted)."""
import json
import os

from pydicom.dataset import Dataset

FORMAT = "dicomtap-rpi"

ROOTS = {
    "9007": ("111517", "DCM", "Relevant Patient Information"),
    "9000": ("111511", "DCM", "Relevant Patient Information for Breast Imaging"),
    "3802": ("121060", "DCM", "History"),
}
ACCEPTED = {
    "1.2.840.10008.5.1.4.37.1": ["9007", "9000", "3802"],
    "1.2.840.10008.5.1.4.37.2": ["9000"],
    "1.2.840.10008.5.1.4.37.3": ["3802"],
}

C = {
    "history": ("11329-0", "LN", "History"),
    "cardiovascularHistory": ("121060", "DCM", "History"),
    "medicationHistory": ("111512", "DCM", "Medication History"),
    "medicationType": ("111516", "DCM", "Medication Type"),
    "dateTimeStarted": ("111526", "DCM", "DateTime Started"),
    "dateTimeEnded": ("111527", "DCM", "DateTime Ended"),
    "relevantPreviousProcedures": ("111513", "DCM", "Relevant Previous Procedures"),
    "previousProcedure": ("111531", "DCM", "Previous Procedure"),
    "procedureDateTime": ("122146", "DCM", "Procedure DateTime"),
    "relevantIndicatedProblems": ("111514", "DCM", "Relevant Indicated Problems"),
    "indicatedProblem": ("111533", "DCM", "Indicated Problem"),
    "problemObserved": ("111535", "DCM", "DateTime problem observed"),
    "problemResolved": ("121433", "DCM", "DateTime Problem Resolved"),
    "relevantRiskFactors": ("111515", "DCM", "Relevant Risk Factors"),
    "riskFactor": ("80943009", "SCT", "Risk factor"),
    "familyHistory": ("416471007", "SCT", "Family history of clinical finding"),
    "socialHistoryItem": ("160476009", "SCT", "Social / personal history observable"),
    "pregnancyStatus": ("111532", "DCM", "Pregnancy Status"),
    "menopausalPhase": ("111539", "DCM", "Menopausal phase"),
    "comment": ("121106", "DCM", "Comment"),
    "gynecologicalHistory": ("267011001", "SCT", "Gynecological History"),
    "problemList": ("11450-4", "LN", "Problem List"),
    "problem": ("55607006", "SCT", "Problem"),
    "concernNoted": ("121431", "DCM", "DateTime Concern Noted"),
    "concernResolved": ("121432", "DCM", "DateTime Concern Resolved"),
    "socialHistory": ("29762-2", "LN", "Social History"),
    "pastSurgicalHistory": ("10167-5", "LN", "Past Surgical History"),
    "procedure": ("71388002", "SCT", "Procedure"),
    "diagnosticTests": ("30954-2", "LN", "Relevant Diagnostic Tests and/or Laboratory Data"),
    "medicationUse": ("10160-0", "LN", "History of Medication Use"),
    "familyMemberDiseases": ("10157-6", "LN", "History of Family Member Diseases"),
}


def load(path):
    """Patients from a JSON file or every *.json file under a folder (sorted, recursive)."""
    files = []
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            files += [os.path.join(root, n) for n in names if n.lower().endswith(".json") and not n.startswith(".")]
        files.sort()
    else:
        files = [path]
    patients = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("format") != FORMAT:
            continue
        patients += doc.get("patients", [])
    return patients


def code_item(c):
    ds = Dataset()
    ds.CodeValue, ds.CodingSchemeDesignator, ds.CodeMeaning = c
    return ds


def as_tuple(c):
    return (c["value"], c["scheme"], c["meaning"])


def content_item(relationship, concept, value_type, value=None, children=()):
    ds = Dataset()
    if relationship:
        ds.RelationshipType = relationship
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = [code_item(concept)]
    if value_type == "CONTAINER":
        ds.ContinuityOfContent = "SEPARATE"
    elif value_type == "TEXT":
        ds.TextValue = value
    elif value_type == "CODE":
        ds.ConceptCodeSequence = [code_item(value)]
    elif value_type == "DATETIME":
        ds.DateTime = value
    elif value_type == "NUM":
        number, units = value
        measured = Dataset()
        measured.MeasurementUnitsCodeSequence = [code_item(units)]
        measured.NumericValue = str(int(number)) if float(number).is_integer() else repr(float(number))
        ds.MeasuredValueSequence = [measured]
    if children:
        ds.ContentSequence = list(children)
    return ds


def coded(name, item, start=None, end=None):
    children = []
    text = item.get("text")
    if "code" in item:
        value_type, value = "CODE", as_tuple(item["code"])
    elif text is not None:
        value_type, value, text = "TEXT", text, None
    else:
        return None
    if start and item.get("start"):
        children.append(content_item("HAS PROPERTIES", C[start], "DATETIME", item["start"]))
    if end and item.get("end"):
        children.append(content_item("HAS PROPERTIES", C[end], "DATETIME", item["end"]))
    if text is not None:
        children.append(content_item("HAS PROPERTIES", C["comment"], "TEXT", text))
    return content_item("CONTAINS", C[name], value_type, value, children)


def observation(item):
    concept = as_tuple(item["concept"])
    children = []
    if item.get("start"):
        children.append(content_item("HAS PROPERTIES", C["dateTimeStarted"], "DATETIME", item["start"]))
    if "value" in item and "units" in item:
        if item.get("text") is not None:
            children.append(content_item("HAS PROPERTIES", C["comment"], "TEXT", item["text"]))
        return content_item("CONTAINS", concept, "NUM", (item["value"], as_tuple(item["units"])), children)
    if "code" in item:
        if item.get("text") is not None:
            children.append(content_item("HAS PROPERTIES", C["comment"], "TEXT", item["text"]))
        return content_item("CONTAINS", concept, "CODE", as_tuple(item["code"]), children)
    return content_item("CONTAINS", concept, "TEXT", item.get("text", ""), children)


# TID 9001 NUM rows (DCM 111518-111523): grouped in the Gynecological History container, as DICOMStore does.
GYNECOLOGICAL = {("111518", "DCM"), ("111519", "DCM"), ("111520", "DCM"), ("111521", "DCM"), ("111522", "DCM"),
                 ("111523", "DCM")}


def is_gynecological(item):
    concept = item.get("concept") or {}
    return (concept.get("value"), concept.get("scheme")) in GYNECOLOGICAL


def observations(items):
    observed = of(items, "observation")
    out = section("gynecologicalHistory", [observation(i) for i in observed if is_gynecological(i)])
    return out + [observation(i) for i in observed if not is_gynecological(i)]


def of(items, *categories):
    return [i for i in items if i.get("category") in categories]


def section(concept, children):
    children = [c for c in children if c is not None]
    return [content_item("CONTAINS", C[concept], "CONTAINER", children=children)] if children else []


def histories(items, concept="history"):
    return [content_item("CONTAINS", C[concept], "TEXT", i["text"]) for i in of(items, "history") if "text" in i]


def common(items):
    out = section("medicationHistory", [coded("medicationType", i, "dateTimeStarted", "dateTimeEnded")
                                        for i in of(items, "medication")])
    out += section("relevantPreviousProcedures", [coded("previousProcedure", i, "procedureDateTime")
                                                  for i in of(items, "procedure", "prior_study")])
    out += section("relevantIndicatedProblems", [coded("indicatedProblem", i, "problemObserved", "problemResolved")
                                                 for i in of(items, "problem", "allergy")])
    out += section("relevantRiskFactors", [coded("familyHistory" if i["category"] == "family_history" else "riskFactor", i)
                                           for i in of(items, "risk_factor", "family_history")])
    return out


def content(template, items):
    def keep(xs):
        return [x for x in xs if x is not None]
    if template == "9007":
        out = histories(items)
        out += keep(coded("pregnancyStatus", i) for i in of(items, "pregnancy_status"))
        out += common(items)
        out += keep(coded("socialHistoryItem", i, "dateTimeStarted", "dateTimeEnded") for i in of(items, "social_history"))
        out += keep(coded("menopausalPhase", i) for i in of(items, "menopausal_phase"))
        out += observations(items)
        return out
    if template == "9000":
        out = histories(items)
        out += keep(coded("menopausalPhase", i) for i in of(items, "menopausal_phase"))
        out += keep(coded("pregnancyStatus", i) for i in of(items, "pregnancy_status"))
        out += observations(items)
        return out + common(items)
    # 3802 (root and History row: CP-759's (121060, DCM, "History"))
    out = histories(items, "cardiovascularHistory")
    out += section("problemList", [coded("problem", i, "concernNoted", "concernResolved") for i in of(items, "problem", "allergy")])
    out += section("socialHistory", [coded("socialHistoryItem", i) for i in of(items, "social_history")])
    out += section("pastSurgicalHistory", [coded("procedure", i, "procedureDateTime") for i in of(items, "procedure")])
    out += section("diagnosticTests", [coded("procedure", i, "procedureDateTime") for i in of(items, "prior_study")]
                   + [observation(i) for i in of(items, "observation")])
    out += section("medicationUse", [coded("medicationType", i, "dateTimeStarted", "dateTimeEnded") for i in of(items, "medication")])
    out += section("familyMemberDiseases", [coded("familyHistory", i) for i in of(items, "family_history")])
    return out


def needs_utf8(patient):
    return any(ord(ch) > 127 for ch in json.dumps(patient, ensure_ascii=False))


def response_identifier(request, patient, template, mapping_resource):
    """The request's keys filled from `patient`, Content Template Sequence, and the template's SR content."""
    ds = Dataset()
    if needs_utf8(patient):
        ds.SpecificCharacterSet = "ISO_IR 192"
    for elem in request:
        kw = elem.keyword
        if kw in ("SpecificCharacterSet", "ContentTemplateSequence", "ObservationDateTime", "ValueType",
                  "ConceptNameCodeSequence", "ContentSequence") or elem.tag.element == 0:
            continue
        if kw == "PatientName":
            ds.PatientName = patient.get("name", "")
        elif kw == "PatientID":
            pass
        elif kw == "IssuerOfPatientID":
            ds.IssuerOfPatientID = patient.get("issuer", "")
        elif kw == "PatientBirthDate":
            ds.PatientBirthDate = patient.get("birthDate", "")
        elif kw == "PatientSex":
            ds.PatientSex = patient.get("sex", "")
        elif kw == "OtherPatientIDsSequence":
            seq = []
            for other in patient.get("otherIDs", []):
                o = Dataset()
                o.PatientID = other["id"]
                o.IssuerOfPatientID = other.get("issuer", "")
                o.TypeOfPatientID = other.get("type", "TEXT")
                seq.append(o)
            ds.OtherPatientIDsSequence = seq
        else:
            ds.add_new(elem.tag, elem.VR, [] if elem.VR == "SQ" else None)
    ds.PatientID = patient["patientID"]
    t = Dataset()
    t.MappingResource = mapping_resource
    t.TemplateIdentifier = template
    ds.ContentTemplateSequence = [t]
    ds.ObservationDateTime = patient.get("observationDateTime", "")
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code_item(ROOTS[template])]
    ds.ContentSequence = content(template, patient.get("items", []))
    return ds
