"""A WSGI backend (Flask) for the gunicorn interop tests."""
import hashlib
import os

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
NAME = os.environ.get("BACKEND_NAME", "flask")


@app.route("/health")
def health():
    return jsonify(status="ok", backend=NAME)


@app.route("/echo", methods=["GET", "POST", "PUT"])
def echo():
    body = request.get_data()
    return jsonify(backend=NAME, method=request.method,
                   headers=[[k, v] for k, v in request.headers.items()],
                   body_length=len(body),
                   body_sha256=hashlib.sha256(body).hexdigest(),
                   pid=os.getpid())


@app.route("/bytes/<int:n>")
def nbytes(n):
    return Response(bytes(range(256)) * (n // 256) + bytes(range(n % 256)),
                    mimetype="application/octet-stream")


@app.route("/stream/<int:n>")
def stream(n):
    def gen():
        for i in range(0, n, 10000):
            yield b"s" * min(10000, n - i)
    return Response(gen(), mimetype="application/octet-stream")
