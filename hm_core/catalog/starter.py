"""The starter catalog `seed_catalog` loads: common lab tests with LOINC codes, units and adult
reference and critical ranges (typical laboratory values; each site should review them), a few
imaging studies and procedures, and the OPD consultation. Prices are illustrative.
"""

from __future__ import annotations

from typing import NamedTuple


class A(NamedTuple):
    """An analyte: code, name, LOINC, unit, reference low/high, critical low/high."""

    code: str
    name: str
    loinc: str
    unit: str
    ref_low: str | None
    ref_high: str | None
    crit_low: str | None = None
    crit_high: str | None = None


class S(NamedTuple):
    """A service: code, name, LOINC, order type, specimen, price, analytes."""

    code: str
    name: str
    loinc: str
    order_type: str
    specimen: str
    price: str
    analytes: tuple[A, ...] = ()


HB = A("HB", "Haemoglobin", "718-7", "g/dL", "12.0", "17.5", "7.0", "20.0")

STARTER: tuple[S, ...] = (
    S("CONSULT", "OPD consultation", "", "SERVICE", "", "50.00"),
    S(
        "CBC",
        "Complete blood count",
        "58410-2",
        "LAB",
        "whole_blood",
        "18.00",
        (
            HB,
            A("WBC", "White cell count", "6690-2", "10*9/L", "4.0", "11.0", "2.0", "30.0"),
            A("PLT", "Platelets", "777-3", "10*9/L", "150", "400", "20", "1000"),
            A("HCT", "Haematocrit", "4544-3", "%", "36", "52", "20", "60"),
        ),
    ),
    S("HB", "Haemoglobin", "718-7", "LAB", "whole_blood", "6.00", (HB,)),
    S(
        "ESR",
        "Erythrocyte sedimentation rate",
        "4537-7",
        "LAB",
        "whole_blood",
        "5.00",
        (A("ESR", "ESR", "4537-7", "mm/h", "0", "20"),),
    ),
    S(
        "CRP",
        "C-reactive protein",
        "1988-5",
        "LAB",
        "serum",
        "12.00",
        (A("CRP", "C-reactive protein", "1988-5", "mg/L", "0", "5"),),
    ),
    S(
        "GLU",
        "Glucose",
        "2345-7",
        "LAB",
        "serum",
        "4.00",
        (A("GLU", "Glucose", "2345-7", "mmol/L", "3.9", "7.8", "2.5", "25.0"),),
    ),
    S(
        "K",
        "Potassium",
        "2823-3",
        "LAB",
        "serum",
        "5.00",
        (A("K", "Potassium", "2823-3", "mmol/L", "3.5", "5.1", "2.8", "6.2"),),
    ),
    S(
        "NA",
        "Sodium",
        "2951-2",
        "LAB",
        "serum",
        "5.00",
        (A("NA", "Sodium", "2951-2", "mmol/L", "135", "145", "120", "160"),),
    ),
    S(
        "CA",
        "Calcium",
        "17861-6",
        "LAB",
        "serum",
        "6.00",
        (A("CA", "Calcium", "17861-6", "mmol/L", "2.15", "2.55", "1.60", "3.50"),),
    ),
    S(
        "MG",
        "Magnesium",
        "19123-9",
        "LAB",
        "serum",
        "6.00",
        (A("MG", "Magnesium", "19123-9", "mmol/L", "0.70", "1.00", "0.40", "2.00"),),
    ),
    S(
        "CREA",
        "Creatinine",
        "2160-0",
        "LAB",
        "serum",
        "6.00",
        (A("CREA", "Creatinine", "2160-0", "umol/L", "60", "110"),),
    ),
    S(
        "UREA",
        "Urea",
        "22664-7",
        "LAB",
        "serum",
        "6.00",
        (A("UREA", "Urea", "22664-7", "mmol/L", "2.5", "7.8"),),
    ),
    S(
        "LFT",
        "Liver function tests",
        "24325-3",
        "LAB",
        "serum",
        "20.00",
        (
            A("ALT", "Alanine aminotransferase", "1742-6", "U/L", "7", "56"),
            A("AST", "Aspartate aminotransferase", "1920-8", "U/L", "10", "40"),
            A("BILI", "Bilirubin, total", "1975-2", "umol/L", "3", "21"),
            A("ALB", "Albumin", "1751-7", "g/L", "35", "50"),
        ),
    ),
    S(
        "LIPID",
        "Lipid panel",
        "57698-3",
        "LAB",
        "serum",
        "22.00",
        (
            A("CHOL", "Cholesterol, total", "2093-3", "mmol/L", None, "5.2"),
            A("TG", "Triglycerides", "2571-8", "mmol/L", None, "1.7"),
            A("HDL", "HDL cholesterol", "2085-9", "mmol/L", "1.0", None),
            A("LDL", "LDL cholesterol", "13457-7", "mmol/L", None, "3.4"),
        ),
    ),
    S(
        "HBA1C",
        "Haemoglobin A1c",
        "4548-4",
        "LAB",
        "whole_blood",
        "15.00",
        (A("HBA1C", "Haemoglobin A1c", "4548-4", "%", "4.0", "5.6"),),
    ),
    S(
        "TSH",
        "Thyroid stimulating hormone",
        "3016-3",
        "LAB",
        "serum",
        "14.00",
        (A("TSH", "TSH", "3016-3", "mIU/L", "0.4", "4.0"),),
    ),
    S(
        "INR",
        "Prothrombin time (INR)",
        "6301-6",
        "LAB",
        "citrate_plasma",
        "8.00",
        (A("INR", "INR", "6301-6", "{INR}", "0.8", "1.2", None, "5.0"),),
    ),
    S(
        "TROP",
        "Troponin I, high sensitivity",
        "89579-7",
        "LAB",
        "serum",
        "25.00",
        (A("TROP", "Troponin I", "89579-7", "ng/L", "0", "26", None, "1000"),),
    ),
    S(
        "LACT",
        "Lactate",
        "2524-7",
        "LAB",
        "serum",
        "9.00",
        (A("LACT", "Lactate", "2524-7", "mmol/L", "0.5", "2.2", None, "4.0"),),
    ),
    S(
        "PCT",
        "Procalcitonin",
        "33959-8",
        "LAB",
        "serum",
        "30.00",
        (A("PCT", "Procalcitonin", "33959-8", "ng/mL", "0", "0.5"),),
    ),
    S(
        "UA",
        "Urinalysis",
        "24356-8",
        "LAB",
        "urine",
        "7.00",
        (
            A("USG", "Specific gravity", "2965-2", "{SG}", "1.005", "1.030"),
            A("UPH", "pH", "2756-5", "[pH]", "5.0", "8.0"),
        ),
    ),
    S("CXR", "Chest X-ray", "36643-5", "IMAGING", "", "45.00"),
    S("CTHEAD", "CT head without contrast", "30799-1", "IMAGING", "", "250.00"),
    S("USABD", "Ultrasound abdomen", "24558-9", "IMAGING", "", "120.00"),
    S("ECG", "12-lead electrocardiogram", "11524-6", "PROCEDURE", "", "30.00"),
    S("SUTURE", "Wound suturing", "", "PROCEDURE", "", "60.00"),
    S("NEB", "Nebulised bronchodilator", "", "PROCEDURE", "", "15.00"),
)
