import pytest

from graphcl.config import dataset_section, method_config, select_sections

FILE = {"defaults": {"a": 1, "b": 2},
        "datasets": {"ogbl-ddi": {"b": 3}, "Cora": {"a": 5}, "wikipedia": None}}


@pytest.mark.parametrize("name,key", [("ogbl-ddi", "ogbl-ddi"), ("ogbl_ddi", "ogbl-ddi"),
                                      ("ddi", "ogbl-ddi"), ("OGBL-DDI", "ogbl-ddi"),
                                      ("cora", "Cora"), ("citeseer", None)])
def test_dataset_section_normalises_names(name, key):
    assert dataset_section(FILE["datasets"], name) == key


def test_select_sections_merges_and_falls_back():
    assert select_sections(FILE, "ddi") == {"a": 1, "b": 3}
    assert select_sections(FILE, "cora") == {"a": 5, "b": 2}
    assert select_sections(FILE, "wikipedia") == {"a": 1, "b": 2}  # empty section
    assert select_sections(FILE, "my-own-graph") == {"a": 1, "b": 2}
    assert select_sections(FILE) == {"a": 1, "b": 2}
    flat = {"a": 7}
    out = select_sections(flat, "cora")
    assert out == flat and out is not flat
    with pytest.raises(KeyError, match="no section for dataset 'citeseer'"):
        select_sections(FILE, "citeseer", require_section=True)


def test_zoo_configs_resolve_for_every_method_alias():
    # the shipped zoo: NCNC's ddi flags are found from the OGB and the short name alike
    assert method_config("ncnc", "ddi") == method_config("ncnc", "ogbl-ddi")
    assert method_config("ncnc", "ogbl-ddi")["batch_size"] == 24576
    assert method_config("tgn", "CollegeMsg")["lr"] == pytest.approx(1e-3)
    assert method_config("tgn", "csv:/some/file.csv", overrides={"lr": 0.5})["lr"] == 0.5


def test_dotted_overrides_set_section_keys():
    # `graphcl run pres --set pres.gamma=0.5 pres.scope=intra`: keys of the `pres` section
    cfg = method_config("pres", "wikipedia", overrides={"pres.gamma": 0.5, "pres.scope": "intra"})
    assert cfg["pres"]["gamma"] == 0.5 and cfg["pres"]["scope"] == "intra"
    assert cfg["pres"]["beta"] == method_config("pres", "wikipedia")["pres"]["beta"]  # kept
    assert method_config("pres", "wikipedia")["pres"]["gamma"] == 0.0  # the file is untouched
    # a null or absent section is created (TGN's `pres: null` switches PRES on with it)
    assert method_config("tgn", "wikipedia", overrides={"pres.gamma": 0.5})["pres"] == {
        "gamma": 0.5}
    with pytest.raises(ValueError, match="'lr' is 0.0001, not a section"):
        method_config("tgn", "wikipedia", overrides={"lr.x": 1})


def test_parse_set_reads_yaml_values_and_names_bad_items():
    from graphcl.config import parse_set

    assert parse_set(["lr=1e-3", "x=2.5E+2", "pres.in_eval=false", "name=a=b", " k =3"]) == {
        "lr": 1e-3, "x": 250.0, "pres.in_eval": False, "name": "a=b", "k": 3}
    with pytest.raises(ValueError, match="'lr'"):
        parse_set(["lr"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_set(["=3"])
