"""A real Flask application for the WSGI end-to-end test."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def index():
    return "flask on sluice"


@app.get("/users/<int:uid>")
def user(uid):
    return jsonify(id=uid, name=f"user{uid}")


@app.post("/form")
def form():
    return f"{request.form['name']} is {request.form['age']}"


@app.post("/json")
def json_body():
    data = request.get_json()
    return jsonify(sum=sum(data["numbers"]), n=len(data["numbers"]))


@app.get("/stream")
def stream():
    def parts():
        for i in range(5):
            yield f"part {i}\n"

    return Response(stream_with_context(parts()), mimetype="text/plain")
