package dev.patchbay.research;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Every command's help renders as written: picocli runs each description through {@link String#format}, and an
 * unescaped {@code %} (as "95% interval" was) makes it print a warning before the help and keep the raw text. The
 * research command line holds every command, the served jar's and its own, and lists them all.
 */
class HelpTextTest {
    @Test
    void everyDescriptionIsAValidFormatAndHelpListsEveryCommand() {
        CommandLine root = ResearchCli.commandLine();
        List<CommandSpec> commands = new ArrayList<>();
        commands.add(root.getCommandSpec());
        root.getSubcommands().values().forEach(c -> commands.add(c.getCommandSpec()));
        for (CommandSpec spec : commands) {
            List<String> texts = new ArrayList<>(List.of(spec.usageMessage().description()));
            texts.addAll(List.of(spec.usageMessage().header()));
            texts.addAll(List.of(spec.usageMessage().footer()));
            spec.options().forEach(o -> texts.addAll(List.of(o.description())));
            spec.positionalParameters().forEach(p -> texts.addAll(List.of(p.description())));
            for (String text : texts) {
                assertDoesNotThrow(() -> String.format(Locale.ROOT, text), spec.qualifiedName() + ": " + text);
            }
        }
        String usage = root.getUsageMessage();
        for (String command :
                List.of("logits", "attribute", "circuit", "scrub", "generate", "serve", "demo", "bench", "replicate")) {
            assertTrue(usage.contains("  " + command + " "), command + " missing from:\n" + usage);
        }
    }
}
