import httpx

from tests.factories import add_party


def test_token_smoke(live_server, db):
    creds = add_party(db)
    r = httpx.post(f"{live_server.url}/sts/Token", data={
        "grant_type": "client_credentials", "client_id": creds.party.client_id,
        "client_secret": creds.client_secret})
    print(r.status_code, r.text[:300])
    assert r.status_code == 200
    token = r.json()["access_token"]
    r = httpx.get(f"{live_server.url}/api/v1/metering-points", headers={"Authorization": f"Bearer {token}"})
    print(r.status_code, r.text[:300])
    assert r.status_code == 200
