package dev.patchbay.checkpoint;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads a JSON object from a checkpoint file, with errors that name the file. */
final class Json {
    private Json() {}

    static JsonObject read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "file not found");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read: " + e.getMessage(), e);
        }
        try {
            var element = JsonParser.parseString(text);
            if (!element.isJsonObject()) {
                throw new CheckpointException(file, "malformed JSON: expected an object");
            }
            return element.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new CheckpointException(file, "malformed JSON: " + e.getMessage(), e);
        }
    }
}
