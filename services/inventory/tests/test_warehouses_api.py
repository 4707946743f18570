"""Warehouses over HTTP: CRUD for the shop's ops/admin, scoping, problem+json for bad input."""

from ecom_testkit import auth

SHOP = "S1"
OPS = auth("ops", sub="li", shop_id=SHOP)
WH = auth("warehouse", sub="wang", shop_id=SHOP)
OTHER = auth("ops", sub="zhao", shop_id="S2")
ADMIN = auth("admin", sub="root")
HZ = {"code": "HZ", "name": "杭州仓", "province": "浙江省", "costs": {"浙江": 500, "华东": 700, "*": 1200}}


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def test_create_list_update_delete(client):
    resp = client.post("/api/v1/warehouses", json=HZ, headers={**OPS, "Idempotency-Key": "k1"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["province"] == "浙江" and body["costs"] == {"浙江": 500, "华东": 700, "*": 1200}
    assert body["active"] is True and body["shop_id"] == SHOP and body["updated_by"] == "li"
    # the same key and body: the first answer again, nothing created twice
    again = client.post("/api/v1/warehouses", json=HZ, headers={**OPS, "Idempotency-Key": "k1"})
    assert again.status_code == 201 and again.get_json() == body
    problem(client.post("/api/v1/warehouses", json=HZ, headers=OPS), 409)  # the code exists

    listed = client.get("/api/v1/warehouses", headers=WH).get_json()
    assert listed["shop_id"] == SHOP and [w["code"] for w in listed["items"]] == ["HZ"]

    resp = client.patch("/api/v1/warehouses/HZ", json={"active": False, "costs": {"*": 900}}, headers=OPS)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["active"] is False and resp.get_json()["costs"] == {"*": 900}
    assert resp.get_json()["province"] == "浙江"

    assert client.delete("/api/v1/warehouses/HZ", headers=OPS).status_code == 204
    assert client.get("/api/v1/warehouses", headers=OPS).get_json()["items"] == []
    problem(client.delete("/api/v1/warehouses/HZ", headers=OPS), 404)


def test_bad_input_is_problem_json_and_changes_nothing(client):
    body = problem(client.post("/api/v1/warehouses", json={**HZ, "province": "火星"}, headers=OPS), 422)
    assert "province" in str(body)
    problem(client.post("/api/v1/warehouses", json={**HZ, "costs": {"Narnia": 1}}, headers=OPS), 422)
    problem(client.post("/api/v1/warehouses", json={**HZ, "costs": {"浙江": -1}}, headers=OPS), 422)
    problem(client.post("/api/v1/warehouses", json={**HZ, "costs": {"浙江": "5"}}, headers=OPS), 422)
    problem(client.post("/api/v1/warehouses", json={**HZ, "code": "bad code!"}, headers=OPS), 422)
    problem(client.post("/api/v1/warehouses", json={"code": "X"}, headers=OPS), 422)
    problem(client.post("/api/v1/warehouses", data="{", headers={**OPS, "Content-Type": "application/json"}), 400)
    problem(client.patch("/api/v1/warehouses/NOPE", json={"name": "x"}, headers=OPS), 404)
    assert client.get("/api/v1/warehouses", headers=OPS).get_json()["items"] == []


def test_roles_and_shops(client):
    problem(client.post("/api/v1/warehouses", json=HZ, headers=WH), 403)  # warehouse staff read only
    problem(client.post("/api/v1/warehouses", json={**HZ, "shop_id": "S2"}, headers=OPS), 403)
    assert client.post("/api/v1/warehouses", json=HZ, headers=OPS).status_code == 201
    # another shop's staff see their own (empty) list and cannot touch ours
    assert client.get("/api/v1/warehouses", headers=OTHER).get_json() == {"shop_id": "S2", "items": []}
    problem(client.patch("/api/v1/warehouses/HZ", json={"active": False}, headers=OTHER), 404)
    problem(client.delete("/api/v1/warehouses/HZ", headers=OTHER), 404)
    # platform roles name the shop
    problem(client.get("/api/v1/warehouses", headers=ADMIN), 422)
    assert [w["code"] for w in client.get("/api/v1/warehouses?shop_id=S1", headers=ADMIN).get_json()["items"]] == ["HZ"]


def test_a_warehouse_holding_units_cannot_be_deleted(client, list_sku, receive):
    assert client.post("/api/v1/warehouses", json=HZ, headers=OPS).status_code == 201
    list_sku("A")
    receive("A", 3, warehouse_code="HZ")
    problem(client.delete("/api/v1/warehouses/HZ", headers=OPS), 422)
    assert [w["code"] for w in client.get("/api/v1/warehouses", headers=OPS).get_json()["items"]] == ["HZ"]
