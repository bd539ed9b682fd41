"""read_cell hands a cell's plots to the model as images: in a real kernel, a cell draws with matplotlib (or
displays an image), `%%ask --tools` is answered by the loopback server with a read_cell call, and the
request that follows carries the very image the kernel displayed, in each protocol's own shape: OpenAI's
text-only tool message, then a user message with the image; Anthropic's tool_result with an image block.
Bounded: a large image is shrunk, at most MAX_READ_IMAGES go per read, a model known to be text-only gets
the names only."""

from __future__ import annotations

import base64
import json
import sys

import matplotlib
import pytest
from kernel_session import FORGET_CONVERSATIONS, kernel_env, nbagent_kernel
from provider_server import anthropic_stream, anthropic_tool_stream, openai_stream, openai_tool_stream

from nbagent.messages import BinaryContent
from nbagent.models.offline import OfflineModel
from nbagent.models.openai import OpenAIModel
from nbagent.models.test import TestModel
from nbagent.notebook.cell_outputs import DisplayedImage
from nbagent.notebook.kernel import images
from nbagent.notebook.kernel.images import MAX_READ_IMAGES, displayed_images, text_only

SECRET = "hunter2-do-not-send-0042"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DRAW = f'api_key = "{SECRET}"\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\nprint("plotted")'


@pytest.fixture(scope="module")
def kernel(provider_server):
    env = kernel_env(provider_server.openai_base_url, ANTHROPIC_API_KEY="sk-ant-kernel-0123456789",
                     ANTHROPIC_BASE_URL=provider_server.anthropic_base_url, DEEPSEEK_API_KEY="sk-deepseek-0123456789",
                     DEEPSEEK_BASE_URL=provider_server.openai_base_url)
    with nbagent_kernel(env, "import matplotlib, matplotlib.pyplot as plt\nfrom IPython.display import Image, display") as session:
        yield session


@pytest.fixture
def fresh(kernel, provider):
    kernel.execute(f"plt.close('all')\n{FORGET_CONVERSATIONS}")
    provider.clear()
    return kernel


def shown_png(run) -> str:
    """The base64 PNG the kernel displayed for a cell, as the frontend received it."""
    [png] = [message["content"]["data"]["image/png"] for message in run.of_type("display_data", "execute_result")
             if "image/png" in message["content"]["data"]]
    return png


def openai_images(message: dict) -> list[str]:
    return [part["image_url"]["url"] for part in message["content"] if part["type"] == "image_url"]


def read_result(text: str) -> dict:
    """The tool result's data, parsed from the text the model reads (the images named after it)."""
    data, _, named = text.partition("\n\nWith the ")
    return json.loads(data)


def test_a_plot_read_from_a_cell_goes_to_openai_as_an_image(fresh, provider):
    drawn = fresh.execute(DRAW)
    assert drawn.reply["status"] == "ok" and drawn.stdout == "plotted\n"
    number = drawn.reply["execution_count"]
    provider.enqueue(openai_tool_stream([("call_1", "read_cell", json.dumps({"n": number}))]),
                     openai_stream("A line that rises, then falls."))
    run = fresh.execute("%%ask --tools\nWhat does my plot show?")
    assert run.reply["status"] == "ok", run.errors
    sent = provider.requests[1].json["messages"]
    tool, after = sent[-2], sent[-1]
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_1" and isinstance(tool["content"], str)
    result = read_result(tool["content"])
    assert 'api_key = "***"' in result["source"] and result["stdout"] == "plotted\n"
    png = shown_png(drawn)
    kilobytes = len(base64.b64decode(png)) / 1000
    assert result["displays"] == [f"[image 1: image/png, {kilobytes:,.0f} kB]"]
    [line] = result["images"]
    assert line.startswith("image 1: sent after this result (image/png, ") and "shrunk" not in line
    assert tool["content"].endswith("With the 1 image(s) that follow: image/png image.")
    assert after == {"role": "user", "content": [
        {"type": "text", "text": "The image(s) read_cell returned (call_1):"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png}}]}  # the very image the cell showed
    assert SECRET not in "".join(request.text for request in provider.requests)
    assert f"⚙ `read_cell({number})` → In[{number}], 4 line(s), 1 image(s)" in run.final_markdown()


def test_a_plot_read_from_a_cell_goes_to_anthropic_inside_the_tool_result(fresh, provider):
    """Also a figure that is the cell's result (Out[n], through the display hook) and one shown with display()."""
    drawn = fresh.execute("fig, ax = plt.subplots()\nax.bar(['a', 'b'], [2, 5])\nplt.close(fig)\nfig")
    number = drawn.reply["execution_count"]
    png = base64.b64encode(open(matplotlib.get_data_path() + "/images/home.png", "rb").read()).decode()
    shown = fresh.execute("display(Image(filename=matplotlib.get_data_path() + '/images/home.png'))")
    provider.enqueue(anthropic_tool_stream([("toolu_1", "read_cell", json.dumps({"n": number})),
                                            ("toolu_2", "read_cell", json.dumps({"n": shown.reply["execution_count"]}))]),
                     anthropic_stream("Two bars, and a house."))
    run = fresh.execute("%%ask --tools --model anthropic:claude-sonnet-4-5\nWhat did those cells show?")
    assert run.reply["status"] == "ok", run.errors
    [first, second] = [block for block in provider.requests[1].json["messages"][-1]["content"]
                       if block["type"] == "tool_result"]
    for block, call_id, image in ((first, "toolu_1", shown_png(drawn)), (second, "toolu_2", png)):
        text, picture = block["content"]
        assert block["tool_use_id"] == call_id and block["is_error"] is False
        assert text["type"] == "text" and read_result(text["text"])["images"][0].startswith("image 1: sent")
        assert picture == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}
    assert read_result(first["content"][0]["text"])["displays"][0].startswith("[image 1: image/png")


def test_images_are_bounded_per_read_and_in_size(fresh, provider):
    """Six images in a cell: the first, 1800 pixels wide of noise (9.7 MB), is shrunk with the kernel's PIL
    until it fits; then a JPEG and PNGs; four go in all; the rest are named with the reason."""
    cell = fresh.execute(
        "import os, io, PIL.Image\nnoise = PIL.Image.frombytes('RGB', (1800, 1800), os.urandom(1800 * 1800 * 3))\n"
        "display(noise)\nsmall, photo = io.BytesIO(), io.BytesIO()\n"
        "PIL.Image.new('RGB', (40, 30), 'red').save(small, format='PNG')\n"
        "PIL.Image.new('RGB', (40, 30), 'blue').save(photo, format='JPEG')\ndisplay(Image(photo.getvalue(), format='jpeg'))\n"
        "for _ in range(4):\n    display(Image(small.getvalue()))")
    assert cell.reply["status"] == "ok", cell.errors
    provider.enqueue(openai_tool_stream([("call_1", "read_cell", json.dumps({"n": cell.reply["execution_count"]}))]),
                     openai_stream("Noise and red squares."))
    assert fresh.execute("%%ask --tools\nwhat is in that cell?").reply["status"] == "ok"
    sent = provider.requests[1].json["messages"]
    result = read_result(sent[-2]["content"])
    assert len(result["displays"]) == 6 and result["displays"][2] == "[image 3: image/png, 0 kB]"
    shrunk, jpeg, *rest = result["images"]
    assert shrunk.startswith("image 1: sent after this result (image/png, 392×392, ") and ", shrunk from 1800×1800, " in shrunk
    assert jpeg.startswith("image 2: sent after this result (image/jpeg, 40×30, ")
    assert rest[:2] == [f"image {n}: sent after this result (image/png, 40×30, 0 kB)" for n in (3, 4)]
    assert rest[2:] == [f"image {n}: not sent: at most {MAX_READ_IMAGES} images are sent per read" for n in (5, 6)]
    urls = openai_images(sent[-1])
    assert len(urls) == MAX_READ_IMAGES and urls[1].startswith("data:image/jpeg;base64,/9j/")
    first = base64.b64decode(urls[0].split(",", 1)[1])
    assert first.startswith(PNG_SIGNATURE) and len(first) <= images.MAX_SENT_IMAGE_BYTES


def test_the_oldest_cells_images_are_let_go_past_the_memory_budget(fresh, provider):
    """The images kept for read_cell are bounded in all: past IMAGE_BUDGET the oldest cells' go first, and
    reading such a cell says so."""
    show = "display(Image(filename=matplotlib.get_data_path() + '/images/home.png'))"  # 468 bytes
    fresh.execute("from nbagent.notebook import cell_outputs\nbudget, cell_outputs.IMAGE_BUDGET = cell_outputs.IMAGE_BUDGET, 1000")
    try:
        numbers = [fresh.execute(show).reply["execution_count"] for _ in range(3)]
    finally:
        fresh.execute("cell_outputs.IMAGE_BUDGET = budget")
    provider.enqueue(openai_tool_stream([("call_1", "read_cell", json.dumps({"n": numbers[0]})),
                                         ("call_2", "read_cell", json.dumps({"n": numbers[2]}))]), openai_stream("ok"))
    assert fresh.execute("%%ask --tools\nwhat did those show?").reply["status"] == "ok"
    sent = provider.requests[1].json["messages"]
    oldest, newest = (read_result(message["content"]) for message in sent if message["role"] == "tool")
    assert oldest["images"] == ["image 1: not sent: let go to bound the kernel's memory (run the cell again to see it)"]
    assert newest["images"] == ["image 1: sent after this result (image/png, 24×24, 0 kB)"]
    assert len(openai_images(sent[-1])) == 1


def test_a_model_known_not_to_read_images_gets_their_names(fresh, provider):
    drawn = fresh.execute(DRAW)
    provider.enqueue(openai_tool_stream([("call_1", "read_cell", json.dumps({"n": drawn.reply["execution_count"]}))]),
                     openai_stream("A plot."))
    run = fresh.execute("%%ask --tools --model deepseek:deepseek-chat\nWhat does my plot show?")
    assert run.reply["status"] == "ok", run.errors
    sent = provider.requests[1].json["messages"]
    assert sent[-1]["role"] == "tool"  # no user message of images after it
    result = json.loads(sent[-1]["content"])
    assert result["images"] == ["image 1: not sent: deepseek:deepseek-chat does not read images"]
    assert "image_url" not in provider.requests[1].text


# ------------------------------------------------------------------ the bounds, without a kernel

SMALL_PNG = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + (2000).to_bytes(4, "big") + (100).to_bytes(4, "big") + b"\x00" * 16


def test_without_pil_a_large_image_is_named_and_a_wide_one_sent_as_is(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL.Image", None)  # a kernel that never imported PIL
    model = OpenAIModel("gpt-4o", api_key="sk-unit-0123456789")
    large = PNG_SIGNATURE + b"\x00" * (images.MAX_SENT_IMAGE_BYTES + 1)
    sent, lines = displayed_images([DisplayedImage("image/png", SMALL_PNG), DisplayedImage("image/png", large),
                                    DisplayedImage("image/png", None), DisplayedImage("image/png", b"<svg/>")], model)
    assert sent == [BinaryContent(data=SMALL_PNG, media_type="image/png")]  # 2000 wide: the provider shrinks it
    assert lines == [
        "image 1: sent after this result (image/png, 2000×100, 0 kB)",
        "image 2: not sent: 1.0 MB is over the 1 MB limit for an image read, and this kernel has not imported PIL "
        "to shrink it",
        "image 3: not sent: let go to bound the kernel's memory (run the cell again to see it)",
        "image 4: not sent: the display's image/png data is not a PNG or JPEG image"]


def test_which_models_read_images():
    assert text_only(OpenAIModel("gpt-4o", api_key="sk-unit-0123456789")) is None
    deepseek = OpenAIModel("deepseek-chat", provider="deepseek", api_key="sk-unit-0123456789")
    assert text_only(deepseek) == "deepseek:deepseek-chat does not read images"
    assert text_only(TestModel()) == "the test model does not read images"
    assert text_only(OfflineModel()) == "the offline model does not read images"
