"""The example's web app: every visit is counted in Redis and recorded in PostgreSQL."""

import os
import socket

import psycopg2
import redis
from flask import Flask

app = Flask(__name__)
with open("/run/secrets/db_password") as f:
    PASSWORD = f.read().strip()


def db():
    return psycopg2.connect(host=os.environ["DB_HOST"], user="app", dbname="postgres",
                            password=PASSWORD, connect_timeout=5)


@app.route("/")
def index():
    hits = redis.Redis(host=os.environ["REDIS_HOST"], socket_timeout=5).incr("hits")
    with db() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, "
                    "at timestamptz DEFAULT now(), served_by text)")
        cur.execute("INSERT INTO visits (served_by) VALUES (%s)", (socket.gethostname(),))
        cur.execute("SELECT count(*) FROM visits")
        visits = cur.fetchone()[0]
    return f"hits={hits} visits={visits} served_by={socket.gethostname()}\n"


@app.route("/health")
def health():
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000, threaded=True)
