from prompt_a_video.cli import main

if __name__ == "__main__":
    main()
