import json
import math

from rich.console import Console

from evaluation.report import print_report, report_rows, report_to_json, rows_to_csv, to_jsonable

REPORT = {
    "settings": {"num_images": 3, "image_size": [8, 8], "image": "composite", "fid": {"backend": "ours"}},
    "overall": {"n": 3, "metrics": {"psnr": {"mean": 30.5, "ci95": [29.0, 32.0], "n": 3},
                                    "kid": {"mean": 0.01, "ci95": None, "n": 3, "std": 0.002},
                                    "fid": {"mean": None, "ci95": None, "n": 1, "note": "FID needs at least 2"}}},
    "buckets": {"0-10%": {"n": 2, "metrics": {"psnr": {"mean": float("inf"), "ci95": None, "n": 2}}}},
    "mask_types": {"box": {"n": 3, "metrics": {"psnr": {"mean": float("nan"), "ci95": None, "n": 0}}}},
}


def test_json_is_strict():
    text = report_to_json(REPORT)
    data = json.loads(text)
    assert data["buckets"]["0-10%"]["metrics"]["psnr"]["mean"] == "inf"
    assert data["mask_types"]["box"]["metrics"]["psnr"]["mean"] is None
    assert to_jsonable((1.0, math.nan)) == [1.0, None]


def test_rows_and_csv():
    rows = report_rows(REPORT)
    assert [(r["section"], r["group"], r["metric"]) for r in rows] == [
        ("overall", "all", "psnr"), ("overall", "all", "kid"), ("overall", "all", "fid"),
        ("bucket", "0-10%", "psnr"), ("mask_type", "box", "psnr")]
    assert rows[0]["ci95_low"] == 29.0 and rows[1]["std"] == 0.002
    text = rows_to_csv(rows)
    assert text.splitlines()[0] == "section,group,group_n,metric,mean,ci95_low,ci95_high,n,std"
    assert "overall,all,3,psnr,30.5,29.0,32.0,3," in text


def test_table_renders_cells():
    console = Console(record=True, width=200)
    print_report(REPORT, console=console)
    text = console.export_text()
    assert "30.5 ±1.5" in text and "0.01 sd 0.002" in text and "0-10%" in text and "inf" in text


def test_one_image_groups_show_the_mean_alone():
    report = {"settings": {}, "overall": {"n": 3, "metrics": {"psnr": {"mean": 30.5, "ci95": [29.0, 32.0], "n": 3}}},
              "buckets": {"0-10%": {"n": 1, "metrics": {"psnr": {"mean": 31.25, "ci95": None, "n": 1, "std": None}}},
                          # a report written before one image stopped getting the zero-width [v, v]
                          "10-20%": {"n": 1, "metrics": {"psnr": {"mean": 28.5, "ci95": [28.5, 28.5], "n": 1}}}}}
    console = Console(record=True, width=200)
    print_report(report, console=console)
    text = console.export_text()
    assert "30.5 ±1.5" in text and "31.25" in text and "28.5" in text
    assert "±0" not in text and text.count("±") == 2  # the cell above and the caption
    assert json.loads(report_to_json(report))["buckets"]["0-10%"]["metrics"]["psnr"]["ci95"] is None
